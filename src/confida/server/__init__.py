"""HTTP adapters: the REST API, the privacy center and the console. No rule lives here."""
