"""Consume profile-sync's profile events (ProfileCreated, ProfileUpdated, ProfileDeleted).

- ``profile_sync_consumer.events``: parse an EventBridge event, or one an SQS queue wraps,
  into a ``ProfileEvent`` (standard library only).
- ``profile_sync_consumer.replica``: ``apply`` an event to a consumer's copy of a profile by the
  contract's ordering rule, so the copy ends equal to the source whatever the order of delivery.
- ``profile_sync_consumer.models``: the contract as pydantic models, the source of the JSON Schemas.
- ``profile_sync_consumer.contract``: the detail types and the profile's fields.

Nothing is imported here: a Lambda function that only parses and applies never loads pydantic.
"""
