"""Profile -> token claims: types per event version, the size budget, and forbidden claims."""

import json
import random
from collections.abc import Callable
from typing import Any, Literal

import pytest

from shared.fields import FIELDS, FieldSpec, Kind, Owner
from triggers.pre_token_generation import claims as claims_module
from triggers.pre_token_generation.claims import FORBIDDEN_CLAIMS, build_claims, is_forbidden

BIG = 1_000_000  # a budget nothing in these tests reaches

FULL_PROFILE = {
    "email": "jane.doe@example.com",
    "email_verified": True,
    "providers": ["Cognito"],
    "tenant_id": "acme",
    "roles": ["editor", "viewer"],
    "plan": "pro",
    "flags": ["beta-search"],
    "display_name": "Jane Doe",
    "given_name": "Jane",
    "family_name": "Doe",
    "locale": "en-GB",
    "picture": "https://example.com/jane.png",
    "preferences": {"theme": "dark"},
}


def declared_claims(token: Literal["id", "access"]) -> list[str]:
    """The claim names the map declares for ``token``, in declaration order: each field's own
    claim and, in the ID token, the Cognito attribute a non-IdP field mirrors under another name."""
    names = []
    for spec in FIELDS:
        claim = spec.id_claim if token == "id" else spec.access_claim
        names += [claim] if claim else []
        attribute = spec.cognito_attribute
        mirrored = token == "id" and spec.owner is not Owner.IDP and attribute
        names += [attribute] if mirrored and attribute and attribute != claim else []
    return names


def mirrored_attributes() -> list[str]:
    """The Cognito attributes of the map's user- and admin-owned fields, whose ID token claims the profile states."""
    return [spec.cognito_attribute for spec in FIELDS if spec.cognito_attribute and spec.owner is not Owner.IDP]


def size(claims: dict[str, Any]) -> int:
    return len(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())


Declare = Callable[..., None]  # the declare fixture: replaces the map with the FieldSpecs given


@pytest.fixture
def declare(monkeypatch: pytest.MonkeyPatch) -> Declare:
    """Replace the field map the claims builder reads (for kinds or names the real map lacks)."""

    def _declare(*specs: FieldSpec) -> None:
        monkeypatch.setattr(claims_module, "FIELDS", specs)

    return _declare


# --- V1: strings only ----------------------------------------------------------------


def test_v1_claims_are_all_strings() -> None:
    # Given a full profile
    # When ID token claims are built for a V1 event
    result = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=BIG)

    # Then every value is a string
    assert result.claims
    assert all(isinstance(value, str) for value in result.claims.values())


def test_v1_lists_become_json_strings_that_parse_back() -> None:
    # Given a profile with roles
    # When V1 claims are built
    result = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=BIG)

    # Then roles is a JSON array in a string
    assert json.loads(result.claims["roles"]) == FULL_PROFILE["roles"]


@pytest.mark.parametrize(("value", "expected"), [(True, "true"), (False, "false")])
def test_v1_booleans_become_lowercase_true_and_false(declare: Declare, value: bool, expected: str) -> None:
    # Given a boolean field declared with an ID token claim
    declare(FieldSpec("mfa_enrolled", Owner.ADMIN, Kind.BOOLEAN, id_claim="mfa_enrolled"))

    # When V1 claims are built
    result = build_claims({"mfa_enrolled": value}, "id", strings_only=True, budget_bytes=BIG)

    # Then the claim is "true" or "false", as JSON and Cognito spell them
    assert result.claims == {"mfa_enrolled": expected}


def test_v1_objects_become_json_strings_that_parse_back(declare: Declare) -> None:
    # Given an object field declared with an ID token claim
    declare(FieldSpec("preferences", Owner.USER, Kind.OBJECT, id_claim="prefs"))
    preferences = {"theme": "dark", "fontScale": 1.25, "digest": {"weekly": True}}

    # When V1 claims are built
    result = build_claims({"preferences": preferences}, "id", strings_only=True, budget_bytes=BIG)

    # Then the claim is a string holding the same JSON object
    assert isinstance(result.claims["prefs"], str)
    assert json.loads(result.claims["prefs"]) == preferences


# --- V2/V3: JSON-typed ---------------------------------------------------------------


def test_v2_claims_keep_their_json_types() -> None:
    # Given a full profile
    # When access token claims are built for a V2 event
    result = build_claims(FULL_PROFILE, "access", strings_only=False, budget_bytes=BIG)

    # Then lists stay lists and strings stay strings
    assert result.claims["roles"] == ["editor", "viewer"]
    assert result.claims["flags"] == ["beta-search"]
    assert result.claims["plan"] == "pro"


def test_v2_booleans_stay_booleans(declare: Declare) -> None:
    # Given a boolean field declared with an access token claim
    declare(FieldSpec("mfa_enrolled", Owner.ADMIN, Kind.BOOLEAN, access_claim="mfa_enrolled"))

    # When V2 claims are built
    result = build_claims({"mfa_enrolled": False}, "access", strings_only=False, budget_bytes=BIG)

    # Then the claim is a real false, not "false"
    assert result.claims == {"mfa_enrolled": False}


# --- which claims --------------------------------------------------------------------


@pytest.mark.parametrize("token", ["id", "access"])
def test_each_token_gets_exactly_the_claims_declared_for_it(token: Literal["id", "access"]) -> None:
    # Given a profile where every field is set
    # When claims are built for one token
    result = build_claims(FULL_PROFILE, token, strings_only=False, budget_bytes=BIG)

    # Then its claim names are the ones the map declares for that token
    assert sorted(result.claims) == sorted(declared_claims(token))


def test_field_goes_out_under_its_declared_claim_name() -> None:
    # Given a profile with a display name (declared as the "name" claim)
    # When ID token claims are built
    result = build_claims({"display_name": "Jane Doe"}, "id", strings_only=False, budget_bytes=BIG)

    # Then it appears as "name", not as "display_name"
    assert result.claims == {"name": "Jane Doe"}


def test_access_only_field_stays_out_of_the_id_token() -> None:
    # Given a profile with feature flags (declared for the access token only)
    # When ID token claims are built
    result = build_claims({"flags": ["beta-search"]}, "id", strings_only=False, budget_bytes=BIG)

    # Then no flags claim is emitted
    assert result.claims == {}


@pytest.mark.parametrize("empty", [None, [], {}])
def test_empty_values_produce_no_claim(empty: list[Any] | dict[str, Any] | None) -> None:
    # Given a profile whose roles are empty
    # When claims are built
    result = build_claims({"roles": empty, "plan": "pro"}, "access", strings_only=False, budget_bytes=BIG)

    # Then there is no roles claim at all
    assert "roles" not in result.claims


def test_profile_keys_named_like_reserved_claims_never_become_claims() -> None:
    # Given a profile carrying keys named like Cognito's own claims
    hostile = {"sub": "attacker", "cognito:groups": ["admin"], "aud": "x", "exp": 9_999_999_999, "plan": "pro"}

    # When claims are built
    result = build_claims(hostile, "access", strings_only=False, budget_bytes=BIG)

    # Then only the declared field's claim is there
    assert result.claims == {"plan": "pro"}


@pytest.mark.parametrize(
    "claim", ["sub", "cognito:groups", "cognito:preferred_role", "aud", "exp", "token_use", "scope"]
)
def test_a_forbidden_claim_declared_in_the_map_is_never_emitted(declare: Declare, claim: str) -> None:
    # Given a map that (wrongly) declares a field under a forbidden claim name
    declare(
        FieldSpec("tenant_id", Owner.ADMIN, id_claim=claim, access_claim=claim),
        FieldSpec("plan", Owner.ADMIN, id_claim="plan", access_claim="plan"),
    )

    # When claims are built for either token
    fields = {"tenant_id": "acme", "plan": "pro"}
    emitted = {
        name
        for token in ("id", "access")
        for name in build_claims(fields, token, strings_only=False, budget_bytes=BIG).claims
    }

    # Then the forbidden one is left out and the rest still emitted
    assert emitted == {"plan"}


# --- size budget ---------------------------------------------------------------------


def test_claims_within_the_budget_are_all_kept() -> None:
    # Given a full profile and a budget it fits in
    # When ID token claims are built
    result = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=BIG)

    # Then nothing is dropped
    assert result.dropped == ()


def test_over_budget_claims_drop_the_last_declared_first() -> None:
    # Given a full profile and a budget that fits only part of its ID token claims
    everything = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=BIG).claims
    budget = size(everything) // 2

    # When ID token claims are built
    result = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=budget)

    # Then what is kept is a prefix of the declaration order, and dropped is the rest, last-declared first
    order = declared_claims("id")
    kept = list(result.claims)
    assert result.dropped
    assert kept == order[: len(kept)]
    assert list(result.dropped) == list(reversed(order[len(kept) :]))
    assert size(result.claims) <= budget


def test_dropped_claims_do_not_stop_at_the_first_that_fits() -> None:
    # Given a budget just one byte short of all ID token claims
    everything = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=BIG).claims

    # When claims are built
    result = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=size(everything) - 1)

    # Then exactly the last-declared claim is dropped
    assert result.dropped == (declared_claims("id")[-1],)


def test_budget_drop_does_not_depend_on_the_order_of_the_profile_fields() -> None:
    # Given the same profile with its keys in reverse order
    reordered = dict(reversed(list(FULL_PROFILE.items())))

    # When both are built under the same tight budget
    first = build_claims(FULL_PROFILE, "access", strings_only=False, budget_bytes=40)
    second = build_claims(reordered, "access", strings_only=False, budget_bytes=40)

    # Then the results are identical (and the budget did bite)
    assert first.claims
    assert first.dropped
    assert (first.claims, first.dropped) == (second.claims, second.dropped)


@pytest.mark.parametrize(("budget", "fits"), [(100, False), (140, True)])
def test_budget_is_counted_in_utf8_bytes_of_compact_json(budget: int, fits: bool) -> None:
    # Given a name of 60 two-byte characters: 71 characters of compact JSON, 131 bytes in UTF-8
    # (escaped as \u00e9 or with spaces after separators it would be longer still)
    fields = {"display_name": "\u00e9" * 60}

    # When claims are built with a budget below or above its UTF-8 size
    result = build_claims(fields, "id", strings_only=True, budget_bytes=budget)

    # Then the name is kept exactly when its UTF-8 bytes fit
    assert ("name" in result.claims) is fits
    assert result.dropped == (() if fits else ("name",))


# --- properties over random, hostile profiles ----------------------------------------

HOSTILE_KEYS = ["sub", "cognito:groups", "cognito:username", "aud", "exp", "iat", "username", "scope", "token_use"]


def random_text(rng: random.Random) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        return "x" * 10_240
    if choice == 1:
        return "".join(chr(rng.randrange(0, 32)) for _ in range(rng.randrange(1, 20)))
    if choice == 2:
        return rng.choice(HOSTILE_KEYS)
    if choice == 3:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(0, 40)))
    if choice == 4:
        return ""
    return '"}, "sub": "attacker'


def random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 2 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randrange(-(10**12), 10**12)
    if choice == 3:
        return rng.uniform(-1e6, 1e6)
    if choice == 4:
        return random_text(rng)
    if choice == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    if choice == 6:
        return {random_text(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    return rng.choice([[], {}])


def random_profile(rng: random.Random) -> dict[str, Any]:
    keys = [spec.name for spec in FIELDS] + HOSTILE_KEYS + ["is_admin", "custom:plan"]
    return {key: random_value(rng) for key in rng.sample(keys, rng.randrange(0, len(keys)))}


@pytest.mark.parametrize("seed", range(5))
def test_no_forbidden_claim_is_ever_emitted_and_v1_values_are_always_strings(seed: int) -> None:
    # Given many random profiles, including hostile keys, 10 KB strings and control characters
    rng = random.Random(seed)
    for _ in range(200):
        profile = random_profile(rng)
        token: Literal["id", "access"] = rng.choice(["id", "access"])
        strings_only = rng.choice([True, False])
        budget = rng.choice([2, 64, 512, 2048, BIG])

        # When claims are built for any token, event version and budget
        result = build_claims(profile, token, strings_only=strings_only, budget_bytes=budget)

        # Then no claim is one Cognito forbids, each is declared for the token, and the budget holds
        assert not [name for name in result.claims if is_forbidden(name)]
        assert set(result.claims) <= set(declared_claims(token))
        assert set(result.claims).isdisjoint(result.dropped)
        assert set(result.claims).isdisjoint(result.suppress)
        assert len(json.dumps(result.claims, ensure_ascii=False, separators=(",", ":")).encode()) <= budget
        if strings_only:
            assert all(isinstance(value, str) for value in result.claims.values())
        # and in the ID token every mirrored attribute is either stated or suppressed
        if token == "id":
            stated = [name for name in mirrored_attributes() if name in result.claims]
            assert sorted([*stated, *result.suppress]) == sorted(mirrored_attributes())
        else:
            assert result.suppress == ()


@pytest.mark.parametrize("seed", range(3))
def test_no_forbidden_claim_is_emitted_whatever_claim_names_the_map_declares(declare: Declare, seed: int) -> None:
    # Given random maps whose claim names are drawn from forbidden and ordinary names
    rng = random.Random(1_000 + seed)
    names = [*sorted(FORBIDDEN_CLAIMS), "cognito:groups", "cognito:roles", "plan", "tier", "tenant"]
    for _ in range(50):
        specs = tuple(
            FieldSpec(f"f{index}", Owner.ADMIN, id_claim=rng.choice(names), access_claim=rng.choice(names))
            for index in range(rng.randrange(1, 8))
        )
        declare(*specs)
        fields = {spec.name: random_text(rng) or "v" for spec in specs}

        # When claims are built for either token
        for token in ("id", "access"):
            result = build_claims(fields, token, strings_only=rng.choice([True, False]), budget_bytes=BIG)

            # Then no forbidden name gets through
            assert not [name for name in result.claims if is_forbidden(name)]


# --- Cognito's own attributes in the ID token ----------------------------------------


@pytest.mark.parametrize("strings_only", [True, False], ids=["v1", "v2"])
def test_id_token_suppresses_a_mirrored_attribute_the_profile_does_not_hold(strings_only: bool) -> None:
    # Given a profile without a picture (Cognito's attribute may hold anything a user wrote there)
    profile = {key: value for key, value in FULL_PROFILE.items() if key != "picture"}

    # When ID token claims are built
    result = build_claims(profile, "id", strings_only=strings_only, budget_bytes=BIG)

    # Then picture is suppressed, never added
    assert "picture" in result.suppress
    assert "picture" not in result.claims


@pytest.mark.parametrize("strings_only", [True, False], ids=["v1", "v2"])
def test_id_token_states_a_mirrored_attribute_the_profile_holds(strings_only: bool) -> None:
    # Given a profile with a picture
    # When ID token claims are built
    result = build_claims(FULL_PROFILE, "id", strings_only=strings_only, budget_bytes=BIG)

    # Then picture is overridden with the profile's value, not suppressed
    assert result.claims["picture"] == FULL_PROFILE["picture"]
    assert "picture" not in result.suppress


@pytest.mark.parametrize("strings_only", [True, False], ids=["v1", "v2"])
def test_id_token_states_attributes_mirrored_under_another_name_as_strings(strings_only: bool) -> None:
    # Given a profile with given and family names (no claim of their own) and a plan (claim "plan")
    profile = {"given_name": "Jane", "family_name": "Doe", "plan": "pro"}

    # When ID token claims are built
    result = build_claims(profile, "id", strings_only=strings_only, budget_bytes=BIG)

    # Then the Cognito attributes are overridden with the profile's values, as Cognito states attributes
    assert result.claims["given_name"] == "Jane"
    assert result.claims["family_name"] == "Doe"
    assert result.claims["custom:plan"] == "pro"
    assert {"given_name", "family_name", "custom:plan"}.isdisjoint(result.suppress)


def test_id_token_suppresses_given_family_name_and_plan_the_profile_does_not_hold() -> None:
    # Given a profile with none of them
    # When ID token claims are built
    result = build_claims({"display_name": "Jane Doe"}, "id", strings_only=True, budget_bytes=BIG)

    # Then each of their Cognito attributes is suppressed
    assert {"given_name", "family_name", "custom:plan", "custom:tenant_id"} <= set(result.suppress)


def test_idp_owned_attributes_are_neither_stated_nor_suppressed() -> None:
    # Given a profile without an email (email is Cognito's to state)
    profile = {key: value for key, value in FULL_PROFILE.items() if key not in ("email", "email_verified")}

    # When ID token claims are built
    result = build_claims(profile, "id", strings_only=True, budget_bytes=BIG)

    # Then the token's email claims are left to Cognito
    assert {"email", "email_verified"}.isdisjoint([*result.claims, *result.suppress])


def test_access_token_claims_suppress_nothing() -> None:
    # Given a profile with none of the mirrored attributes
    # When access token claims are built
    result = build_claims({"roles": ["editor"]}, "access", strings_only=False, budget_bytes=BIG)

    # Then nothing is suppressed (access tokens carry no user attributes)
    assert result.suppress == ()


def test_a_mirrored_attribute_dropped_for_the_budget_is_suppressed() -> None:
    # Given a budget one byte short of a full profile's ID token claims (picture is declared last)
    everything = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=BIG).claims

    # When ID token claims are built
    result = build_claims(FULL_PROFILE, "id", strings_only=True, budget_bytes=size(everything) - 1)

    # Then picture is dropped and suppressed, so Cognito's own value does not stand in for it
    assert result.dropped == ("picture",)
    assert "picture" in result.suppress
