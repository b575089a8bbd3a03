"""English and German messages; language from a cookie the switch sets, else Accept-Language.

Catalogs are plain dicts checked at import (same keys in every language), so a missing
translation fails the tests rather than showing a key to a person.
"""

from __future__ import annotations

LANGS = ("en", "de")
DEFAULT = "en"
COOKIE = "confida-lang"

EN: dict[str, str] = {
    "skip": "Skip to main content",
    "privacy_center": "Privacy center",
    "console": "Confida console",
    "language": "Language",
    "switch": "Switch",
    "signout": "Sign out",
    "overview": "Your data",
    "held": "What we hold about you",
    "held_intro": "What we hold about you, why, and for how long.",
    "kind": "Kind of data",
    "purpose": "Purpose",
    "legal_basis": "Legal basis",
    "retention": "Kept for",
    "recipients": "Recipients",
    "records": "Records",
    "none": "None",
    "consents": "Your choices",
    "consent_intro": "Changes take effect immediately and are recorded with notice version {v}.",
    "on": "On",
    "off": "Off",
    "turn_on": "Turn on",
    "turn_off": "Turn off",
    "consent_saved": "Your choice was saved.",
    "download": "Download your data",
    "download_intro": "A zip file with every record we hold about you, as JSON.",
    "download_btn": "Download my data",
    "requests": "Your requests",
    "requests_intro": "Ask us to correct data, restrict its use, or object to a purpose.",
    "request_type": "Request",
    "rectification": "Correction",
    "restriction": "Restriction of processing",
    "objection": "Objection",
    "erasure": "Erasure",
    "request_hint": "A restriction or objection applies at once. For a correction, say below "
                    "what is wrong and what it should be; we answer within one month.",
    "access": "Access",
    "portability": "Data portability",
    "restriction_lift": "Lifting a restriction",
    "in_progress": "In progress",
    "rejected": "Rejected",
    "objection_purpose": "Purpose objected to (for an objection)",
    "send": "Send request",
    "request_sent": "Your request was received. We answer by {due}.",
    "status": "Status",
    "received_at": "Received",
    "due": "Answer due",
    "received": "Received",
    "extended": "Extended",
    "completed": "Completed",
    "delete": "Delete your account",
    "delete_intro": "Deleting your account erases everything we hold about you. "
                    "This cannot be undone.",
    "delete_link": "Delete my account…",
    "delete_confirm": "I understand that all my data will be erased and cannot be recovered.",
    "delete_btn": "Delete my account now",
    "cancel": "Cancel",
    "deleted_title": "Your account has been deleted",
    "deleted_body": "Your data has been erased. Nothing of yours can be read any more, by us "
                    "or anyone else.",
    "notice": "Privacy notice",
    "notice_link": "Read the privacy notice",
    "controller": "Controller",
    "dpo": "Data protection officer",
    "authority": "Supervisory authority",
    "transfers": "Transfers outside the EU",
    "your_rights": "Your rights: access, correction, erasure, restriction, portability, objection, "
                   "withdrawing consent at any time, and complaining to the supervisory authority.",
    "link_invalid_title": "This link is not valid",
    "link_invalid_body": "This privacy-center link cannot be used. Please open the privacy "
                         "center again from your account.",
    "session_over": "Your session has ended. Please open the privacy center again from your "
                    "account.",
    "forbidden": "The form expired or was not sent from this site. Please go back and try again.",
    "error": "Something went wrong",
    "notice_changed": "The privacy notice has changed since this page was shown. Please reload "
                      "the page, read the current notice and choose again.",
    "back": "Back",
    "login": "Sign in",
    "api_key": "API key",
    "login_hint": "An API key (cfk_…) or, where single sign-on is set up, an OIDC ID token.",
    "login_intro": "Staff sign in with an API key of a role allowed to handle requests.",
    "login_failed": "Sign-in failed.",
    "requests_staff": "Requests",
    "overdue": "Overdue",
    "subject": "Subject (pseudonym)",
    "actions": "Actions",
    "complete": "Complete",
    "extend": "Extend",
    "months": "Months",
    "reason": "Reason",
    "chart_title": "Requests per week",
    "chart_desc": "Requests received in each of the last {n} weeks.",
    "median_days": "Median time to completion: {d} days",
    "no_completed": "No completed requests yet.",
    "compliance": "Compliance check",
    "audit": "Audit log",
    "register": "Register and notice",
    "breaches": "Breaches",
    "keys": "Keys",
    "not_available": "Not available in this build: the {m} module is not installed yet.",
    "register_version": "Register version",
    "register_hash": "Register content hash",
    "notice_version": "Notice version",
    "key_versions": "Key-encryption key versions",
    "kek_provider": "Key-encryption key provider",
    "current": "Current",
    "verify": "Run verification",
    "done": "Done.",
    "run_checks": "Run the compliance check",
    "checks_summary": "{passed} passed, {failed} failed, {na} not applicable.",
    "check": "Check",
    "article": "Article",
    "evidence": "Evidence",
    "breach_intro": "Each breach must be notified to the supervisory authority within 72 hours "
                    "of discovery (Art. 33 GDPR).",
    "breach_title": "Breach",
    "discovered": "Discovered (UTC)",
    "deadline_72h": "72-hour deadline (UTC)",
    "affected": "Subjects / records affected",
    "individual_notice": "People must be told (Art. 34)",
    "notified": "Authority notified",
    "hours_left": "{h} hours left",
    "yes": "Yes",
    "audit_origin": "Log origin",
    "audit_size": "Entries",
    "audit_checkpoint": "Latest signed checkpoint",
    "audit_checkpoint_at": "{n} entries, signed {at} UTC",
    "audit_ok": "Verified: {n} entries and {c} signed checkpoints are intact.",
    "audit_bad": "Verification FAILED: the log was altered at or after entry {i}.",
    "no": "No",
    # --- webhooks (console/webhooks.html)
    "webhooks": "Webhooks",
    "webhooks_intro": "Signed push of erasure notices and overdue request deadlines. Managed "
                      "with the command line: confida webhooks.",
    "wh_endpoints": "Endpoints",
    "wh_host": "Receiver (host)",
    "wh_events": "Events",
    "wh_backlog": "Backlog",
    "wh_dead": "Dead letters",
    "wh_dead_intro": "Deliveries that failed every attempt. Queue one again with "
                     "confida webhooks retry ID.",
    "wh_delivery": "Delivery",
    "wh_event": "Event",
    "wh_attempts": "Attempts",
    "wh_last_error": "Last error",
    "wh_created": "Created (UTC)",
    # --- end webhooks
    # --- links, sign-in, requests, consent state, keys, compliance (polish)
    "link_expired_title": "This link has expired",
    "link_expired_body": "Privacy-center links are valid for a few minutes. Please open the "
                         "privacy center again from your account.",
    "link_used_title": "This link was already used",
    "link_used_body": "Each privacy-center link opens the privacy center once. Please open the "
                      "privacy center again from your account.",
    "login_malformed": "Sign-in failed: this is neither an API key (cfk_…) nor an ID token.",
    "login_unknown": "Sign-in failed: unknown API key.",
    "login_revoked": "Sign-in failed: this API key has been revoked.",
    "login_expired": "Sign-in failed: this API key has expired.",
    "login_token_expired": "Sign-in failed: the ID token has expired.",
    "login_token_invalid": "Sign-in failed: the ID token is not valid for this service.",
    "login_role": "Sign-in failed: this role may not use the console (it needs the requests "
                  "action).",
    "request_done": "Your request was carried out on {date}.",
    "request_rejected": "Your request was refused on {date}.",
    "answer": "Answer",
    "due_by": "due by {d}",
    "completed_on": "completed on {d}",
    "rejected_on": "refused on {d}",
    "correction_text": "For a correction: what is wrong, and what should it be?",
    "correction_hint": "Only the people who carry out your request can read this text, and it "
                       "is deleted with your account.",
    "consent_off_basis": "Your consent is off: no longer used for this purpose. Kept until "
                         "the period ends, then deleted.",
    "reconsent_title": "Please answer again",
    "reconsent_body": "What we do with your data has changed since you last answered. Until "
                      "you answer, we ask you here. Read what changed in the",
    "reconsent_now_consent": "We now ask for your consent to this, and do it only if you say "
                             "yes.",
    "reconsent_widened": "This now goes further than what you agreed to:",
    "search": "Search",
    "search_label": "Request id or pseudonym",
    "filter": "Filter",
    "reset": "Show all",
    "all": "All",
    "open": "Open",
    "due_filter": "Due",
    "due_overdue": "Overdue",
    "due_7": "Within 7 days",
    "due_30": "Within 30 days",
    "shown_of": "{n} of {total} requests shown.",
    "asks": "What it asks for",
    "ask_note_hidden": "The person's text is shown only to roles that may carry out rights.",
    "ask_note_gone": "The person's text is gone: their data was erased.",
    "ask_no_text": "No text given.",
    "ask_record": "Record {id}, fields: {fields}",
    "ask_purpose": "Purpose: {p}",
    "ask_restriction": "Stop processing their data; keep it stored only",
    "ask_restriction_lift": "Lift the restriction of processing",
    "ask_erasure": "Erase all their data",
    "ask_access": "A copy of their data",
    "ask_portability": "Their data in a portable format",
    "ask_records": "{n} records",
    "request_id": "Request id",
    "description": "Description",
    "kv_version": "Version",
    "kv_provider": "Provider",
    "kv_state": "State",
    "kv_created": "Created (UTC)",
    "kv_retired": "Retired (UTC)",
    "kv_destroyable": "May be destroyed from (UTC)",
    "kv_destroyed": "Destroyed (UTC)",
    "state_active": "Active",
    "state_rotating": "Rotating",
    "state_retired": "Retired",
    "state_destroyed": "Destroyed",
    "st_pass": "Passed",
    "st_fail": "Failed",
    "st_not-applicable": "Not applicable",
    "chk_categories-declared": "Every stored category is declared and used by a purpose",
    "chk_retention": "No record is past its retention",
    "chk_consent-at-collection": "Every record for a consent-based purpose had consent at "
                                 "collection",
    "chk_no-processing-after-stop": "No processing after withdrawal, objection, restriction "
                                    "or erasure",
    "chk_requests-deadlines": "Every request answered or within its deadline",
    "chk_audit-log": "The audit log verifies and its latest checkpoint is recent",
    "chk_key-rotation": "Keys rotated within the configured period",
    "chk_no-plaintext": "No plaintext personal data in the database",
    "chk_tls": "TLS enabled",
    "chk_roles-restricted": "No role with unrestricted access",
    "chk_notice-current": "Consents are to the current notice or the subject was asked again",
    "chk_special-categories": "Special categories are processed under an Art. 9(2) condition",
    "chk_breach-deadlines": "Breaches notified to the authority within 72 hours",
    "chk_file-permissions": "Keys and data directory closed to other users",
    # --- end polish
}

DE: dict[str, str] = {
    "skip": "Zum Hauptinhalt springen",
    "privacy_center": "Datenschutzcenter",
    "console": "Confida-Konsole",
    "language": "Sprache",
    "switch": "Wechseln",
    "signout": "Abmelden",
    "overview": "Ihre Daten",
    "held": "Was wir über Sie speichern",
    "held_intro": "Was wir über Sie speichern, wozu und wie lange.",
    "kind": "Art der Daten",
    "purpose": "Zweck",
    "legal_basis": "Rechtsgrundlage",
    "retention": "Aufbewahrung",
    "recipients": "Empfänger",
    "records": "Einträge",
    "none": "Keine",
    "consents": "Ihre Einwilligungen",
    "consent_intro": "Änderungen gelten sofort und werden mit der Version {v} der "
                     "Datenschutzerklärung festgehalten.",
    "on": "Ein",
    "off": "Aus",
    "turn_on": "Einschalten",
    "turn_off": "Ausschalten",
    "consent_saved": "Ihre Auswahl wurde gespeichert.",
    "download": "Ihre Daten herunterladen",
    "download_intro": "Eine ZIP-Datei mit allen Einträgen, die wir über Sie speichern, als JSON.",
    "download_btn": "Meine Daten herunterladen",
    "requests": "Ihre Anträge",
    "requests_intro": "Bitten Sie uns, Daten zu berichtigen, ihre Verarbeitung einzuschränken "
                      "oder einem Zweck zu widersprechen.",
    "request_type": "Antrag",
    "rectification": "Berichtigung",
    "restriction": "Einschränkung der Verarbeitung",
    "objection": "Widerspruch",
    "erasure": "Löschung",
    "request_hint": "Eine Einschränkung oder ein Widerspruch gilt sofort. Für eine Berichtigung "
                    "schreiben Sie unten, was falsch ist und wie es richtig lautet; wir "
                    "antworten innerhalb eines Monats.",
    "access": "Auskunft",
    "portability": "Datenübertragbarkeit",
    "restriction_lift": "Aufhebung einer Einschränkung",
    "in_progress": "In Bearbeitung",
    "rejected": "Abgelehnt",
    "objection_purpose": "Zweck, dem Sie widersprechen (bei einem Widerspruch)",
    "send": "Antrag senden",
    "request_sent": "Ihr Antrag ist eingegangen. Wir antworten bis {due}.",
    "status": "Status",
    "received_at": "Eingegangen",
    "due": "Antwort fällig",
    "received": "Eingegangen",
    "extended": "Verlängert",
    "completed": "Erledigt",
    "delete": "Ihr Konto löschen",
    "delete_intro": "Wenn Sie Ihr Konto löschen, wird alles gelöscht, was wir über Sie "
                    "speichern. Das kann nicht rückgängig gemacht werden.",
    "delete_link": "Mein Konto löschen…",
    "delete_confirm": "Mir ist klar, dass alle meine Daten gelöscht werden und nicht "
                      "wiederhergestellt werden können.",
    "delete_btn": "Mein Konto jetzt löschen",
    "cancel": "Abbrechen",
    "deleted_title": "Ihr Konto wurde gelöscht",
    "deleted_body": "Ihre Daten wurden gelöscht. Nichts davon kann noch gelesen werden, weder "
                    "von uns noch von anderen.",
    "notice": "Datenschutzerklärung",
    "notice_link": "Datenschutzerklärung lesen",
    "controller": "Verantwortlicher",
    "dpo": "Datenschutzbeauftragte(r)",
    "authority": "Aufsichtsbehörde",
    "transfers": "Übermittlungen außerhalb der EU",
    "your_rights": "Ihre Rechte: Auskunft, Berichtigung, Löschung, Einschränkung, "
                   "Datenübertragbarkeit, Widerspruch, jederzeitiger Widerruf Ihrer Einwilligung "
                   "und Beschwerde bei der Aufsichtsbehörde.",
    "link_invalid_title": "Dieser Link ist ungültig",
    "link_invalid_body": "Dieser Link zum Datenschutzcenter kann nicht verwendet werden. Bitte "
                         "öffnen Sie das Datenschutzcenter erneut aus Ihrem Konto.",
    "session_over": "Ihre Sitzung ist beendet. Bitte öffnen Sie das Datenschutzcenter erneut "
                    "aus Ihrem Konto.",
    "forbidden": "Das Formular ist abgelaufen oder kam nicht von dieser Seite. Bitte gehen Sie "
                 "zurück und versuchen Sie es erneut.",
    "error": "Etwas ist schiefgegangen",
    "notice_changed": "Die Datenschutzerklärung hat sich geändert, seit diese Seite angezeigt "
                      "wurde. Bitte laden Sie die Seite neu, lesen Sie die aktuelle Fassung und "
                      "wählen Sie erneut.",
    "back": "Zurück",
    "login": "Anmelden",
    "api_key": "API-Schlüssel",
    "login_hint": "Ein API-Schlüssel (cfk_…) oder, wo Single Sign-on eingerichtet ist, ein "
                  "OIDC-ID-Token.",
    "login_intro": "Mitarbeitende melden sich mit dem API-Schlüssel einer Rolle an, die Anträge "
                   "bearbeiten darf.",
    "login_failed": "Anmeldung fehlgeschlagen.",
    "requests_staff": "Anträge",
    "overdue": "Überfällig",
    "subject": "Betroffene Person (Pseudonym)",
    "actions": "Aktionen",
    "complete": "Erledigen",
    "extend": "Verlängern",
    "months": "Monate",
    "reason": "Begründung",
    "chart_title": "Anträge pro Woche",
    "chart_desc": "Eingegangene Anträge in jeder der letzten {n} Wochen.",
    "median_days": "Median der Bearbeitungszeit: {d} Tage",
    "no_completed": "Noch keine erledigten Anträge.",
    "compliance": "Compliance-Prüfung",
    "audit": "Audit-Log",
    "register": "Verzeichnis und Datenschutzerklärung",
    "breaches": "Datenpannen",
    "keys": "Schlüssel",
    "not_available": "In dieser Version nicht verfügbar: das Modul {m} ist noch nicht installiert.",
    "register_version": "Version des Verzeichnisses",
    "register_hash": "Inhalts-Hash des Verzeichnisses",
    "notice_version": "Version der Datenschutzerklärung",
    "key_versions": "Versionen des Schlüsselverschlüsselungsschlüssels",
    "kek_provider": "Anbieter des Schlüsselverschlüsselungsschlüssels",
    "current": "Aktuell",
    "verify": "Prüfung starten",
    "done": "Erledigt.",
    "run_checks": "Compliance-Prüfung starten",
    "checks_summary": "{passed} bestanden, {failed} nicht bestanden, {na} nicht anwendbar.",
    "check": "Prüfung",
    "article": "Artikel",
    "evidence": "Nachweise",
    "breach_intro": "Jede Datenpanne ist der Aufsichtsbehörde binnen 72 Stunden nach "
                    "Bekanntwerden zu melden (Art. 33 DSGVO).",
    "breach_title": "Datenpanne",
    "discovered": "Entdeckt (UTC)",
    "deadline_72h": "72-Stunden-Frist (UTC)",
    "affected": "Betroffene Personen / Einträge",
    "individual_notice": "Betroffene zu benachrichtigen (Art. 34)",
    "notified": "Behörde benachrichtigt",
    "hours_left": "noch {h} Stunden",
    "yes": "Ja",
    "audit_origin": "Herkunft des Logs",
    "audit_size": "Einträge",
    "audit_checkpoint": "Letzter signierter Checkpoint",
    "audit_checkpoint_at": "{n} Einträge, signiert {at} UTC",
    "audit_ok": "Geprüft: {n} Einträge und {c} signierte Checkpoints sind unverändert.",
    "audit_bad": "Prüfung FEHLGESCHLAGEN: das Log wurde ab Eintrag {i} verändert.",
    "no": "Nein",
    # --- webhooks (console/webhooks.html)
    "webhooks": "Webhooks",
    "webhooks_intro": "Signierte Zustellung von Löschmitteilungen und überfälligen "
                      "Antragsfristen. Verwaltet über die Kommandozeile: confida webhooks.",
    "wh_endpoints": "Empfänger",
    "wh_host": "Empfänger (Host)",
    "wh_events": "Ereignisse",
    "wh_backlog": "Ausstehend",
    "wh_dead": "Unzustellbare Nachrichten",
    "wh_dead_intro": "Zustellungen, bei denen jeder Versuch fehlschlug. Erneut einreihen mit "
                     "confida webhooks retry ID.",
    "wh_delivery": "Zustellung",
    "wh_event": "Ereignis",
    "wh_attempts": "Versuche",
    "wh_last_error": "Letzter Fehler",
    "wh_created": "Erstellt (UTC)",
    # --- end webhooks
    # --- links, sign-in, requests, consent state, keys, compliance (polish)
    "link_expired_title": "Dieser Link ist abgelaufen",
    "link_expired_body": "Links zum Datenschutzcenter gelten nur wenige Minuten. Bitte öffnen "
                         "Sie das Datenschutzcenter erneut aus Ihrem Konto.",
    "link_used_title": "Dieser Link wurde bereits verwendet",
    "link_used_body": "Jeder Link öffnet das Datenschutzcenter nur einmal. Bitte öffnen Sie das "
                      "Datenschutzcenter erneut aus Ihrem Konto.",
    "login_malformed": "Anmeldung fehlgeschlagen: Das ist weder ein API-Schlüssel (cfk_…) noch "
                       "ein ID-Token.",
    "login_unknown": "Anmeldung fehlgeschlagen: unbekannter API-Schlüssel.",
    "login_revoked": "Anmeldung fehlgeschlagen: Dieser API-Schlüssel wurde widerrufen.",
    "login_expired": "Anmeldung fehlgeschlagen: Dieser API-Schlüssel ist abgelaufen.",
    "login_token_expired": "Anmeldung fehlgeschlagen: Das ID-Token ist abgelaufen.",
    "login_token_invalid": "Anmeldung fehlgeschlagen: Das ID-Token gilt nicht für diesen "
                           "Dienst.",
    "login_role": "Anmeldung fehlgeschlagen: Diese Rolle darf die Konsole nicht nutzen (sie "
                  "braucht die Aktion requests).",
    "request_done": "Ihr Antrag wurde am {date} umgesetzt.",
    "request_rejected": "Ihr Antrag wurde am {date} abgelehnt.",
    "answer": "Antwort",
    "due_by": "bis {d}",
    "completed_on": "erledigt am {d}",
    "rejected_on": "abgelehnt am {d}",
    "correction_text": "Für eine Berichtigung: Was ist falsch, und wie soll es richtig lauten?",
    "correction_hint": "Diesen Text lesen nur die Personen, die Ihren Antrag bearbeiten, und er "
                       "wird mit Ihrem Konto gelöscht.",
    "consent_off_basis": "Ihre Einwilligung ist ausgeschaltet: nicht mehr für diesen Zweck "
                         "verwendet. Aufbewahrt bis zum Ende der Frist, dann gelöscht.",
    "reconsent_title": "Bitte antworten Sie erneut",
    "reconsent_body": "Was wir mit Ihren Daten tun, hat sich seit Ihrer letzten Antwort "
                      "geändert. Bis Sie antworten, fragen wir Sie hier. Was sich geändert hat, "
                      "lesen Sie in der",
    "reconsent_now_consent": "Wir bitten jetzt um Ihre Einwilligung dazu und tun es nur, wenn "
                             "Sie zustimmen.",
    "reconsent_widened": "Das geht jetzt weiter als das, dem Sie zugestimmt haben:",
    "search": "Suchen",
    "search_label": "Antrags-ID oder Pseudonym",
    "filter": "Filtern",
    "reset": "Alle anzeigen",
    "all": "Alle",
    "open": "Offen",
    "due_filter": "Fällig",
    "due_overdue": "Überfällig",
    "due_7": "Innerhalb von 7 Tagen",
    "due_30": "Innerhalb von 30 Tagen",
    "shown_of": "{n} von {total} Anträgen angezeigt.",
    "asks": "Worum es geht",
    "ask_note_hidden": "Den Text der Person sehen nur Rollen, die Betroffenenrechte umsetzen "
                       "dürfen.",
    "ask_note_gone": "Der Text der Person ist nicht mehr lesbar: Ihre Daten wurden gelöscht.",
    "ask_no_text": "Kein Text angegeben.",
    "ask_record": "Eintrag {id}, Felder: {fields}",
    "ask_purpose": "Zweck: {p}",
    "ask_restriction": "Verarbeitung ihrer Daten stoppen; nur noch speichern",
    "ask_restriction_lift": "Einschränkung der Verarbeitung aufheben",
    "ask_erasure": "Alle ihre Daten löschen",
    "ask_access": "Eine Kopie ihrer Daten",
    "ask_portability": "Ihre Daten in einem übertragbaren Format",
    "ask_records": "{n} Einträge",
    "request_id": "Antrags-ID",
    "description": "Beschreibung",
    "kv_version": "Version",
    "kv_provider": "Anbieter",
    "kv_state": "Zustand",
    "kv_created": "Erstellt (UTC)",
    "kv_retired": "Außer Dienst (UTC)",
    "kv_destroyable": "Vernichtbar ab (UTC)",
    "kv_destroyed": "Vernichtet (UTC)",
    "state_active": "Aktiv",
    "state_rotating": "Wird rotiert",
    "state_retired": "Außer Dienst",
    "state_destroyed": "Vernichtet",
    "st_pass": "Bestanden",
    "st_fail": "Nicht bestanden",
    "st_not-applicable": "Nicht anwendbar",
    "chk_categories-declared": "Jede gespeicherte Kategorie ist deklariert und wird von einem "
                               "Zweck verwendet",
    "chk_retention": "Kein Eintrag ist über seine Speicherdauer hinaus gespeichert",
    "chk_consent-at-collection": "Jeder Eintrag für einen einwilligungsbasierten Zweck hatte "
                                 "bei der Erhebung eine Einwilligung",
    "chk_no-processing-after-stop": "Keine Verarbeitung nach Widerruf, Widerspruch, "
                                    "Einschränkung oder Löschung",
    "chk_requests-deadlines": "Jeder Antrag ist beantwortet oder noch in seiner Frist",
    "chk_audit-log": "Das Audit-Log ist unverändert und sein letzter Checkpoint ist aktuell",
    "chk_key-rotation": "Schlüssel im eingestellten Zeitraum rotiert",
    "chk_no-plaintext": "Keine personenbezogenen Daten im Klartext in der Datenbank",
    "chk_tls": "TLS aktiviert",
    "chk_roles-restricted": "Keine Rolle mit uneingeschränktem Zugriff",
    "chk_notice-current": "Einwilligungen beziehen sich auf die aktuelle Datenschutzerklärung "
                          "oder die Person wurde erneut gefragt",
    "chk_special-categories": "Besondere Kategorien werden unter einer Bedingung des Art. 9 "
                              "Abs. 2 DSGVO verarbeitet",
    "chk_breach-deadlines": "Datenpannen binnen 72 Stunden der Behörde gemeldet",
    "chk_file-permissions": "Schlüssel und Datenverzeichnis für andere Benutzer gesperrt",
    # --- end polish
}

CATALOGS = {"en": EN, "de": DE}
assert set(EN) == set(DE), sorted(set(EN) ^ set(DE))  # noqa: S101 - a build-time invariant

BASES_EN = {
    "consent": "Your consent (Art. 6(1)(a) GDPR)",
    "contract": "Needed for our contract with you (Art. 6(1)(b) GDPR)",
    "legal_obligation": "Required by law (Art. 6(1)(c) GDPR)",
    "vital_interests": "To protect someone's life (Art. 6(1)(d) GDPR)",
    "public_task": "A task in the public interest (Art. 6(1)(e) GDPR)",
    "legitimate_interests": "Our legitimate interests (Art. 6(1)(f) GDPR)",
}
BASES_DE = {
    "consent": "Ihre Einwilligung (Art. 6 Abs. 1 lit. a DSGVO)",
    "contract": "Erforderlich für unseren Vertrag mit Ihnen (Art. 6 Abs. 1 lit. b DSGVO)",
    "legal_obligation": "Gesetzlich vorgeschrieben (Art. 6 Abs. 1 lit. c DSGVO)",
    "vital_interests": "Zum Schutz lebenswichtiger Interessen (Art. 6 Abs. 1 lit. d DSGVO)",
    "public_task": "Aufgabe im öffentlichen Interesse (Art. 6 Abs. 1 lit. e DSGVO)",
    "legitimate_interests": "Unsere berechtigten Interessen (Art. 6 Abs. 1 lit. f DSGVO)",
}


def negotiate(accept_language: str | None, cookie: str | None = None) -> str:
    """The switch's cookie wins; otherwise the best-q supported language; else English."""
    if cookie in LANGS:
        return cookie  # type: ignore[return-value]
    best, best_q = DEFAULT, -1.0
    for i, part in enumerate((accept_language or "")[:512].split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGS and (q > best_q or (q == best_q and i == 0)):
            best, best_q = lang, q
    return best


def translator(lang: str):  # type: ignore[no-untyped-def]
    cat = CATALOGS.get(lang, EN)

    def t(key: str, **kw: object) -> str:
        text = cat.get(key) or EN.get(key) or key
        return text.format(**kw) if kw else text

    return t


def basis(lang: str, value: str) -> str:
    return (BASES_DE if lang == "de" else BASES_EN).get(value, value)
