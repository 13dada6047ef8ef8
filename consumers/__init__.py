"""Downstream consumers of the profile events, as examples of the consumer kit's use."""
