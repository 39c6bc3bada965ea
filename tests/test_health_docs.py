import re

from tests.helpers import ok


def test_health_reports_database(client, database):
    body = ok(client.get("/api/v1/health"))
    assert body["status"] == "ok"
    assert body["database"] == database.dialect


def test_openapi_covers_the_core_resources(client):
    paths = ok(client.get("/openapi.json"))["paths"]
    for fragment in (
        "/products",
        "/customers",
        "/stores",
        "/orders",
        "/payments",
        "/refunds",
        "/storefront/orders",
        "/payments/notify/{provider}",
    ):
        assert any(p.endswith(fragment) or fragment in p for p in paths), fragment


def test_every_schema_in_the_document_has_one_name(client):
    # the storefront's operations and the merchant's are one document: two models with the
    # same class name would be qualified with their modules (or, merged by hand, one would
    # silently replace the other); each resource's model has a name of its own
    schemas = ok(client.get("/openapi.json"))["components"]["schemas"]
    assert not [name for name in schemas if name.startswith("shoplet__")]
    for name in ("BuyingGroupOut", "GroupOut", "GuideVisitIn", "VisitIn", "LightFiguresOut"):
        assert name in schemas, name


def test_docs_load_only_vendored_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls, "the docs page references its assets"
    for url in urls:
        assert url.startswith("/static/") or url.startswith("/openapi"), url
        assert client.get(url).status_code == 200, url
    assert "cdn" not in page.text.lower()
    assert '"validatorUrl": null' in page.text


def test_unknown_route_is_problem_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "http.not_found"
