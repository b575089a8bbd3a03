// Starts Swagger UI on /docs. Served as a file of its own (the page's CSP allows no inline
// script); the address of the OpenAPI document is the page's data-spec-url attribute.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayOperationId: true,
    displayRequestDuration: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    filter: true,
    // no request to validator.swagger.io, no credential kept in localStorage
    validatorUrl: null,
    persistAuthorization: false,
    withCredentials: false,
  });
})();
