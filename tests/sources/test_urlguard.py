from __future__ import annotations

import ipaddress

import pytest

from bot.sources.urlguard import BlockedUrl, check_url, is_public_address

INTERNAL = [
    "http://127.0.0.1/x",
    "http://127.0.0.1:8080/x",
    "http://10.0.0.1/x",
    "http://172.16.5.4/x",
    "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:169.254.169.254]/x",
    "http://[fd00:ec2::254]/x",
    "http://[fe80::1]/x",
    "http://[fc00::1]/x",
    "http://localhost/x",
    "http://LOCALHOST./x",
    "http://foo.localhost/x",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.64.0.1/x",
    "http://0.0.0.0/x",
    "http://[::]/x",
    "http://224.0.0.1/x",
    "http://240.0.0.1/x",
    "http://2130706433/x",  # 127.0.0.1 in decimal: resolves to loopback
    "http://[2002:7f00:1::]/x",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a00:1]/x",  # NAT64 wrapping 10.0.0.1
]


@pytest.mark.parametrize("url", INTERNAL)
async def test_internal_urls_blocked(url: str) -> None:
    with pytest.raises(BlockedUrl) as err:
        await check_url(url, allow_private=False)
    assert err.value.reason
    assert "http" not in err.value.reason  # no URL echoed back


@pytest.mark.parametrize("url", INTERNAL)
async def test_internal_urls_allowed_with_allow_private(url: str) -> None:
    await check_url(url, allow_private=True)


@pytest.mark.parametrize("url", ["http://8.8.8.8/v", "https://[2606:4700:4700::1111]/v.mp4"])
async def test_public_literal_accepted(url: str) -> None:
    await check_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/v.mp4", "file:///etc/passwd", "gopher://x/", "http:///nohost"]
)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_bad_scheme_or_host_always_blocked(url: str, allow_private: bool) -> None:
    with pytest.raises(BlockedUrl):
        await check_url(url, allow_private=allow_private)


async def test_unresolvable_host() -> None:
    with pytest.raises(BlockedUrl) as err:
        await check_url("http://no-such-host.invalid/v", allow_private=False)
    assert err.value.kind == "unresolvable"


@pytest.mark.parametrize(
    ("addr", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1", True),
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("100.127.255.255", False),
        ("198.18.0.1", False),
        ("192.0.2.1", False),
        ("ff02::1", False),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("fec0::1", False),
    ],
)
def test_is_public_address(addr: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(addr)) is public
