"""Credentials: hashed at rest, shown once, revocable, with roles."""

from sqlalchemy import select

from shoplet.tenancy.models import ApiKey
from tests.helpers import PLATFORM, bearer, ok


def test_requests_without_a_valid_credential_are_401(client, shop):
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        bearer("sk.nope.nope.nope"),
        bearer("garbage"),
        bearer(shop.admin["Authorization"].split()[1] + "x"),
    ):
        response = client.get("/api/v1/products", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] in ("auth.missing", "auth.invalid")


def test_api_keys_are_stored_hashed_and_shown_once(client, shop, runtime):
    created = ok(client.post("/api/v1/api-keys", json={"name": "CI"}, headers=shop.admin), 201)
    token = created["token"]
    secret = token.split(".")[-1]
    listed = ok(client.get("/api/v1/api-keys", headers=shop.admin))
    assert token not in str(listed) and secret not in str(listed)
    with runtime.db.unit_of_work(write=False) as s:
        for key in s.scalars(select(ApiKey).where(ApiKey.merchant_id == shop.merchant_id)):
            assert secret not in key.secret_hash
    ok(client.get("/api/v1/products", headers=bearer(token)))
    revoked = ok(client.delete(f"/api/v1/api-keys/{created['key']['id']}", headers=shop.admin))
    assert revoked["revoked_at"] is not None
    assert client.get("/api/v1/products", headers=bearer(token)).status_code == 401


def test_roles_limit_what_staff_can_do(client, shop):
    denied = client.post(
        "/api/v1/products", json={"title": "X", "skus": [{"code": "X", "list_price": 1}]}, headers=shop.clerk
    )
    assert denied.status_code == 403 and denied.json()["code"] == "auth.role"
    assert client.post("/api/v1/api-keys", json={"name": "x"}, headers=shop.clerk).status_code == 403
    assert client.get("/api/v1/products", headers=shop.clerk).status_code == 200
    assert client.get("/api/v1/products", headers=shop.customer).status_code == 403
    assert client.get("/api/v1/storefront/me", headers=shop.admin).status_code == 403
    assert (
        client.post("/api/v1/platform/merchants", json={"name": "x"}, headers=shop.admin).status_code == 403
    )


def test_deactivated_staff_lose_access(client, shop):
    staff = ok(
        client.post("/api/v1/staff", json={"name": "Temp", "role": "operator"}, headers=shop.admin), 201
    )
    token = ok(
        client.post(f"/api/v1/staff/{staff['id']}/api-keys", json={"name": "t"}, headers=shop.admin), 201
    )["token"]
    ok(client.get("/api/v1/products", headers=bearer(token)))
    ok(client.post(f"/api/v1/staff/{staff['id']}/deactivate", headers=shop.admin))
    assert client.get("/api/v1/products", headers=bearer(token)).status_code == 401


def test_clerk_must_belong_to_a_store(client, shop):
    response = client.post("/api/v1/staff", json={"name": "C", "role": "clerk"}, headers=shop.admin)
    assert response.status_code == 422 and response.json()["code"] == "staff.clerk_needs_store"
    response = client.post(
        "/api/v1/staff",
        json={"name": "C", "role": "clerk", "store_id": shop.warehouse_id},
        headers=shop.admin,
    )
    assert response.status_code == 404


def test_customer_sign_in_links_host_identities(client, shop):
    first = shop.sign_in("u-1", host_app="taobao")
    again = shop.sign_in("u-1", host_app="taobao")
    assert first["customer_id"] == again["customer_id"] and first["token"] != again["token"]
    # The same person through another host app, recognised by a phone the host verified.
    customer = ok(
        client.post(
            "/api/v1/customers",
            json={
                "name": "Mei",
                "phone": "13900000009",
                "identities": [{"host_app": "alipay", "host_user_id": "2088x"}],
            },
            headers=shop.admin,
        ),
        201,
    )
    # A phone the host does not vouch for links nothing: typing someone's number is not signing in as them.
    stranger = ok(
        client.post(
            "/api/v1/storefront/sessions",
            json={
                "merchant_id": shop.merchant_id,
                "host_app": "weibo",
                "auth_code": "sandbox:wb-stranger:13900000009",
            },
        ),
        201,
    )
    assert stranger["customer_id"] != customer["id"]
    stranger_me = ok(
        client.get("/api/v1/storefront/me", headers={"Authorization": f"Bearer {stranger['token']}"})
    )
    assert stranger_me["phone"] is None
    via_weibo = ok(
        client.post(
            "/api/v1/storefront/sessions",
            json={
                "merchant_id": shop.merchant_id,
                "host_app": "weibo",
                "auth_code": "sandbox:wb-mei:13900000009:verified",
            },
        ),
        201,
    )
    assert via_weibo["customer_id"] == customer["id"]
    linked = ok(client.get(f"/api/v1/customers/{customer['id']}", headers=shop.admin))
    assert {(i["host_app"], i["host_user_id"]) for i in linked["identities"]} == {
        ("alipay", "2088x"),
        ("weibo", "wb-mei"),
    }
    bad = client.post(
        "/api/v1/storefront/sessions",
        json={"merchant_id": shop.merchant_id, "host_app": "alipay", "auth_code": "forged"},
    )
    assert bad.status_code == 401 and bad.json()["code"] == "auth.code_invalid"
    unknown = client.post(
        "/api/v1/storefront/sessions",
        json={"merchant_id": "mer_nope", "host_app": "alipay", "auth_code": "sandbox:x"},
    )
    assert unknown.status_code == 404


def test_expired_customer_session_is_refused(client, shop, clock):
    ok(client.get("/api/v1/storefront/me", headers=shop.customer))
    clock.advance(days=31)
    assert client.get("/api/v1/storefront/me", headers=shop.customer).status_code == 401


def test_platform_lists_merchants(client, shop, other_shop):
    ids = set()
    cursor = None
    while True:
        page = ok(
            client.get(
                "/api/v1/platform/merchants",
                params={"limit": 200, **({"after": cursor} if cursor else {})},
                headers=PLATFORM,
            )
        )
        ids |= {m["id"] for m in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {shop.merchant_id, other_shop.merchant_id} <= ids


def test_a_customer_session_is_remembered_for_a_second_and_never_lets_in_a_wrong_secret(
    client, shop, runtime, monkeypatch
):
    from sqlalchemy import update

    from shoplet import auth
    from shoplet.customers.models import CustomerSession
    from tests.helpers import counting

    ticks = [1000.0]
    monkeypatch.setattr(auth.remembered, "clock", lambda: ticks[0])
    ok(client.get("/api/v1/storefront/me", headers=shop.customer))
    with counting(runtime.db.engine) as statements:
        ok(client.get("/api/v1/storefront/me", headers=shop.customer))
    assert not any("customer_sessions" in s for s in statements)  # remembered: not read again
    prefix, merchant_id, session_id, secret = shop.customer["Authorization"].split()[1].split(".")
    forged = bearer(
        ".".join([prefix, merchant_id, session_id, secret[:-1] + ("A" if secret[-1] != "A" else "B")])
    )
    assert client.get("/api/v1/storefront/me", headers=forged).status_code == 401
    # Revoked in the database (as another process would): refused once the second has passed.
    with runtime.db.unit_of_work() as s:
        s.execute(
            update(CustomerSession)
            .where(CustomerSession.merchant_id == merchant_id, CustomerSession.id == session_id)
            .values(revoked_at=runtime.clock())
        )
    ok(client.get("/api/v1/storefront/me", headers=shop.customer))
    ticks[0] += auth.remembered.seconds
    assert client.get("/api/v1/storefront/me", headers=shop.customer).status_code == 401


def test_suspending_a_merchant_stops_its_remembered_customer_sessions_at_once(client, shop):
    ok(client.get("/api/v1/storefront/me", headers=shop.customer))  # verified, remembered
    ok(client.post(f"/api/v1/platform/merchants/{shop.merchant_id}/suspend", headers=PLATFORM))
    assert client.get("/api/v1/storefront/me", headers=shop.customer).status_code == 401
    ok(client.post(f"/api/v1/platform/merchants/{shop.merchant_id}/reactivate", headers=PLATFORM))
    ok(client.get("/api/v1/storefront/me", headers=shop.customer))


def test_a_customer_signs_out_and_only_that_token_stops_at_once(client, shop, other_shop):
    """Sign-out revokes the token it is sent with, at once (the remembered verification is
    forgotten at its commit); the customer's other sessions and other shops' go on; a merchant
    key cannot use it."""
    phone = {"Authorization": f"Bearer {shop.sign_in('signing-out')['token']}"}
    tablet = {"Authorization": f"Bearer {shop.sign_in('signing-out')['token']}"}
    ok(client.get("/api/v1/storefront/me", headers=phone))  # verified, remembered
    ok(client.get("/api/v1/storefront/me", headers=other_shop.customer))
    refused = client.delete("/api/v1/storefront/sessions/current", headers=shop.admin)
    assert refused.status_code == 403 and refused.json()["code"] == "auth.customer_only"
    assert client.delete("/api/v1/storefront/sessions/current", headers=phone).status_code == 204
    gone = client.get("/api/v1/storefront/me", headers=phone)
    assert gone.status_code == 401 and gone.json()["code"] == "auth.invalid"
    again = client.delete("/api/v1/storefront/sessions/current", headers=phone)
    assert again.status_code == 401  # signed out already: nothing changes
    ok(client.get("/api/v1/storefront/me", headers=tablet))  # the same customer's other session
    ok(client.get("/api/v1/storefront/me", headers=shop.customer))
    ok(client.get("/api/v1/storefront/me", headers=other_shop.customer))
