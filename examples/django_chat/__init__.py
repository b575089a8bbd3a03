"""A Django integration of Confida: settings, a middleware that gives each request a Confida
client, and views that store and read chat messages through it (README.md)."""
