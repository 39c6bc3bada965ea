"""``shoplet price``: JSON in, JSON out; bad input exits 2 with one line and no traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "shoplet"
CART = {
    "now": "2026-11-21T10:00:00+08:00",
    "lines": [{"sku": "latte", "quantity": 2, "unit_price": 3200, "member_price": 2900}],
    "customer": {"member": True},
    "coupons": [{"id": "c1", "kind": "cash", "off": 500}],
}


def run(args, stdin=""):
    return subprocess.run([str(BIN), "price", *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_prices_from_stdin_and_file(tmp_path):
    result = run(["-"], json.dumps(CART))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["total"] == 5800 - 500 and body["member_savings"] == 600
    path = tmp_path / "cart.json"
    path.write_text(json.dumps(CART))
    assert json.loads(run([str(path)]).stdout) == body


@pytest.mark.parametrize(
    "stdin, fragment",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({**CART, "promotions": [{"id": "p", "kind": "mystery"}]}), "unknown kind 'mystery'"),
        (
            json.dumps({**CART, "lines": [{"sku": "a", "quantity": 1, "unit_price": -5}]}),
            "must not be negative",
        ),
        (
            json.dumps({**CART, "coupons": [{"id": "c", "kind": "percent", "percent_off": 101}]}),
            "from 0 to 100",
        ),
        (
            json.dumps({**CART, "coupons": [{"id": "c", "kind": "threshold", "off": 5}]}),
            "threshold: is required",
        ),
    ],
)
def test_invalid_input_exits_2_with_one_line(stdin, fragment):
    result = run(["-"], stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


def test_missing_file_exits_2():
    result = run(["/nonexistent/cart.json"])
    assert result.returncode == 2 and "cannot read" in result.stderr
