"""``show ssl ocsp-response`` on captures of 2.6.12, 2.8.25, 3.2.0 and 3.4.0 (tests/fixtures/ocsp/capture.py):
one good and one revoked response of a throwaway CA, stapled by HAProxy.

Dates are checked against Python's own reading of the captured text (``datetime.strptime``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from exposition import samples, value
from support import require

from exporter.exposition.render import render
from exporter.runtime.errors import ParseError
from exporter.sources.ocsp.model import ocsp_families
from exporter.sources.ocsp.parse import OcspId, OcspResponse, parse_ocsp_list, parse_ocsp_response
from exporter.sources.values import ModelStats

FIXTURES = Path(__file__).parent.parent / "fixtures"
VERSIONS = ["2.6.12", "2.8.25", "3.2.0", "3.4.0"]


def captured(version: str, name: str) -> str:
    return (FIXTURES / version / name).read_text()


def epoch(text: str) -> int:
    return int(datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc).timestamp())


def line(text: str, key: str) -> str:
    return re.search(rf"^\s*{key}: (.*)$", text, flags=re.M).group(1).strip()  # type: ignore[union-attr]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_list_and_each_response(version: str) -> None:
    listing = parse_ocsp_list(captured(version, "show-ssl-ocsp-response.txt"))
    assert len(listing) == 2
    serials = re.findall(r"Serial Number: (\w+)", captured(version, "show-ssl-ocsp-response.txt"))
    assert [i.serial for i in listing] == serials
    if version != "2.6.12":  # 2.8 added the certificate's path to the list
        assert [i.path for i in listing] == ["/etc/haproxy/certs/good.example.pem", "/etc/haproxy/certs/revoked.example.pem"]
    else:
        assert {i.path for i in listing} == {""}
    answers = [(ident, parse_ocsp_response(captured(version, f"show-ssl-ocsp-response-{name}.txt")))
               for ident, name in zip(listing, ("good", "revoked"))]
    got = samples(render(ocsp_families(answers, ModelStats())))
    for (ident, _), name in zip(answers, ("good", "revoked")):
        text = captured(version, f"show-ssl-ocsp-response-{name}.txt")
        labels = {"serial": ident.serial, **({"file": ident.path} if ident.path else {})}
        assert value(got, "haproxy_ssl_ocsp_response_next_update_timestamp_seconds", **labels) == epoch(line(text, "Next Update"))
        assert value(got, "haproxy_ssl_ocsp_response_this_update_timestamp_seconds", **labels) == epoch(line(text, "This Update"))
        for state in ("good", "revoked", "unknown"):
            assert value(got, "haproxy_ssl_ocsp_response_status", **labels, state=state) == (state == name)
    revoked = answers[1][0]
    revoked_labels = {"serial": revoked.serial, **({"file": revoked.path} if revoked.path else {})}
    assert value(got, "haproxy_ssl_ocsp_response_revocation_timestamp_seconds", **revoked_labels) == epoch(
        line(captured(version, "show-ssl-ocsp-response-revoked.txt"), "Revocation Time"))


def test_level_user_on_3_4_is_refused_and_older_versions_answer_it() -> None:
    with pytest.raises(ParseError) as caught:
        parse_ocsp_list(captured("3.4.0", "user-show-ssl-ocsp-response.txt"))
    assert caught.value.reason == "permission_denied"
    for version in ("2.6.12", "2.8.25", "3.2.0"):
        assert len(parse_ocsp_list(captured(version, "user-show-ssl-ocsp-response.txt"))) == 2


def test_nothing_stapled_and_errors() -> None:
    assert parse_ocsp_list("# Certificate IDs\n\n") == ()
    with pytest.raises(ParseError) as caught:
        parse_ocsp_list("Unknown command: 'ssl'\n")
    assert caught.value.reason == "unknown_command"
    with pytest.raises(ParseError):
        parse_ocsp_response("OCSP response not found!\n")


def test_a_listed_certificate_without_a_response_yet_is_no_series_and_no_error() -> None:
    """2.8+'s ocsp-update lists a certificate before its first update; its detail is a lone newline."""
    stats = ModelStats()
    response = parse_ocsp_response("\n")
    assert response.status == ""
    assert ocsp_families([(OcspId("ab", "/x.pem", "01"), response)], stats) == []
    assert stats == ModelStats()


def test_an_unknown_status_is_skipped_and_said() -> None:
    stats = ModelStats()
    families = ocsp_families([(OcspId("ab", serial="01"), OcspResponse("weird", 1, 2, 1, None))], stats)
    assert "haproxy_ssl_ocsp_response_status" not in render(families)
    assert stats.ignored == {("OCSP status", "unknown"): 1}


def test_the_page_passes_promtool() -> None:
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    listing = parse_ocsp_list(captured("3.4.0", "show-ssl-ocsp-response.txt"))
    answers = [(i, parse_ocsp_response(captured("3.4.0", f"show-ssl-ocsp-response-{n}.txt")))
               for i, n in zip(listing, ("good", "revoked"))]
    done = subprocess.run([promtool, "check", "metrics"], input=render(ocsp_families(answers, ModelStats())),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
