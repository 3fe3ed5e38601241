"""Premade (canned) estimators and the heads they share."""
