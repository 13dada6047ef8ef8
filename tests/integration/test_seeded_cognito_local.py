"""``local.support.seeded_cognito_local``: users written straight into cognito-local's pool file are the
records cognito-local itself saves, and its API serves them as the ListUsers entries they came from."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from local.support import attributes_of, cognito_local_record, mixed_users, seeded_cognito_local

pytestmark = pytest.mark.integration
ISO_MILLISECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")  # JavaScript's toISOString
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
# what differs between the records of two users made alike: cognito-local names a user it makes with a new UUID
VARYING = {"Username": "", "UserCreateDate": "", "UserLastModifiedDate": ""}


def test_seeded_users_are_stored_as_cognito_local_stores_the_users_its_api_makes() -> None:
    # Given a seeded pool with one user of each kind but an email one and a Google one
    first: dict[str, dict[str, Any]] = {}  # the first user of each kind
    for entry in mixed_users(60, seed=3):
        first.setdefault(entry["Kind"], entry)
    email, google = first.pop("email"), first.pop("google")
    unconfirmed = first["unconfirmed"]
    with seeded_cognito_local(list(first.values())) as pool:
        cognito = pool.client()
        # When cognito-local's own API makes the email user and the Google one (AdminCreateUser: it cannot
        # make a federated user, so this one is the Google user's attributes under its email) and signs up a
        # twin of the unconfirmed one
        for entry in (email, google):
            cognito.admin_create_user(
                UserPoolId=pool.user_pool_id,
                Username=attributes_of(entry)["email"],
                MessageAction="SUPPRESS",
                UserAttributes=entry["Attributes"],
            )
        client = cognito.create_user_pool_client(UserPoolId=pool.user_pool_id, ClientName="twin")
        twin = {
            **attributes_of(unconfirmed),
            "sub": "00000000-0000-4000-8000-000000000000",
            "email": "twin@example.com",
        }
        cognito.sign_up(
            ClientId=client["UserPoolClient"]["ClientId"],
            Username=twin["email"],
            Password="Passw0rd!",
            UserAttributes=[{"Name": name, "Value": value} for name, value in twin.items()],
        )
        listed = cognito.list_users(UserPoolId=pool.user_pool_id)["Users"]
        saved = {_sub(record["Attributes"]): record for record in json.loads(pool.path.read_text())["Users"].values()}

    # Then its records have the seeded ones' fields: the same attributes, password and flags for the users
    # AdminCreateUser made, and the dates in the same format
    seeded = {attributes_of(entry)["sub"]: entry for entry in first.values()}
    for entry in (email, google):
        made, ours = saved[attributes_of(entry)["sub"]], cognito_local_record(entry, WHEN)
        assert list(made) == list(ours)
        assert {**made, **VARYING} == {**ours, **VARYING, "UserStatus": "FORCE_CHANGE_PASSWORD"}
        assert ISO_MILLISECONDS.fullmatch(made["UserCreateDate"])
        assert ISO_MILLISECONDS.fullmatch(ours["UserCreateDate"])
    signed_up = saved[twin["sub"]]
    assert sorted(signed_up) == sorted(cognito_local_record(unconfirmed, WHEN))
    assert (signed_up["UserStatus"], signed_up["ConfirmationCode"]) == ("UNCONFIRMED", "123456")
    # and ListUsers answers each seeded user as the entry it was seeded from
    answered = {_sub(user["Attributes"]): user for user in listed}
    for sub, entry in seeded.items():
        user = answered[sub]
        assert (user["Username"], user["UserStatus"], user["Enabled"]) == (
            entry["Username"],
            entry["UserStatus"],
            entry["Enabled"],
        )
        assert attributes_of(user) == attributes_of(entry)
    assert set(answered) == {*seeded, attributes_of(email)["sub"], attributes_of(google)["sub"], twin["sub"]}


def _sub(attributes: list[dict[str, str]]) -> str:
    return next(item["Value"] for item in attributes if item["Name"] == "sub")
