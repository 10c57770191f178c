"""The web side: one blueprint per area users see (respondent, field, manage, evaluate, scores, API), login, errors."""
