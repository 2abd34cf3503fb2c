"""Sizes every service agrees on, so input is checked before it is used or sent anywhere."""

MAX_USERNAME = 50  # auth's rule: no account has a longer name
