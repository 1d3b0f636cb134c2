import pytest
from layouts import old_info

from exporter.runtime.errors import ParseError
from exporter.sources.info.parse import parse_info


@pytest.mark.parametrize("version", ["2.6.12", "3.2.0", "3.3.0"])
def test_captures(fixtures, version):
    text = (fixtures / version / "show-info.txt").read_text()
    info = parse_info(text)
    assert info["Name"] == "HAProxy"
    assert info["Version"].startswith(version.rsplit(".", 1)[0])
    # names with spaces and hyphens survive
    assert "Unstoppable Jobs" in info and "Ulimit-n" in info
    # one entry per non-empty line
    assert len(info) == len([line for line in text.split("\n") if line])


def test_values_with_colons_and_spaces(fixtures):
    info = parse_info((fixtures / "2.6.12" / "show-info.txt").read_text())
    assert info["Uptime"] == "0d 0h00m04s"
    assert info["description"] == "capture test instance"


@pytest.mark.parametrize("version", ["1.8", "2.0", "2.4"])
def test_older_layouts(version):
    info = parse_info(old_info(version))
    assert "Version" in info
    assert ("Nbthread" in info) == (version != "1.8")


@pytest.mark.parametrize("text,reason", [
    ("Permission denied\n", "permission_denied"),
    ("Unknown command, but maybe one of the following ones is a better match:\n  help : x\n", "unknown_command"),
    ("<html><body>503 Service Unavailable</body></html>\n", "unexpected_response"),
    ("", "unexpected_response"),
    ("Name: HAProxy\nVersion: 2.6\n<garbage line>\n", "malformed"),
])
def test_errors_and_garbage(text, reason):
    with pytest.raises(ParseError) as err:
        parse_info(text)
    assert err.value.reason == reason


def test_text_fields_written_csv_quoted_are_read_back() -> None:
    """HAProxy quotes a text field holding a comma or a quote, doubling the inner quotes."""
    info = parse_info('Name: HAProxy\nVersion: 3.4.0\ndescription: "quotes ""here"", commas"\nnode: plain\n')
    assert info["description"] == 'quotes "here", commas'
    assert info["node"] == "plain"
    assert parse_info('Name: HAProxy\ndescription: ""\n')["description"] == ""
