"""Audience files that ad platforms and e-mail tools accept: who a member is (identity), their identifiers
normalised as each platform documents (normalise), and one file layout per destination (formats)."""
