"""The two web faces of Confida: the privacy center for data subjects, the console for staff.

Server-rendered (Jinja2), no build step. Pages call core functions through ``ports``; no rule
lives here (a rule enforced only in the web layer is a bug).
"""
