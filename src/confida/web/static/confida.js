// Progressive enhancement only: every page works without this file.
// The language selector submits itself when changed (its Switch button stays for keyboard users).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
});
