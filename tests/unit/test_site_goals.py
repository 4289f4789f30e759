"""Goals and funnels in sites.toml: what is accepted, and the reason for what is not."""

from __future__ import annotations

import pytest

from service.site_goals import Goal
from service.sites import SitesError, parse_sites


def site(extra: str) -> str:
    return f'[sites.shop]\norigins = ["https://shop.example"]\n{extra}\n'


def test_goals_and_funnels_are_read() -> None:
    shop = parse_sites(
        site(
            'goals = [{ name = "Pricing", page = "/pricing" }, { name = "Signup", event = "signup" }]\n'
            'funnels = [{ name = "Buy", steps = ["Pricing", "Signup"] }]'
        )
    )["shop"]
    assert shop.goals == (Goal("Pricing", page="/pricing"), Goal("Signup", event="signup"))
    assert shop.funnels[0].steps == ("Pricing", "Signup")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ('goals = [{ name = "A" }]', "exactly one of page or event"),
        ('goals = [{ name = "A", page = "/a", event = "a" }]', "exactly one of page or event"),
        ('goals = [{ name = "A", page = "a" }]', "page is a path"),
        ('goals = [{ page = "/a" }]', "needs a name"),
        ('goals = [{ name = "A", page = "/a" }, { name = "A", page = "/b" }]', "unique"),
        ('goals = [{ name = "A", page = "/a", colour = "red" }]', "a goal is"),
        ('goals = "/a"', "list of tables"),
        (
            'goals = [{ name = "A", page = "/a" }]\nfunnels = [{ name = "F", steps = ["A"] }]',
            "2 to 8 steps",
        ),
        (
            'goals = [{ name = "A", page = "/a" }]\nfunnels = [{ name = "F", steps = ["A", "B"] }]',
            "no goal named 'B'",
        ),
    ],
)
def test_a_bad_goal_or_funnel_is_refused_with_its_reason(extra: str, reason: str) -> None:
    with pytest.raises(SitesError, match=reason):
        parse_sites(site(extra))


@pytest.mark.parametrize(
    ("page", "pattern"),
    [("/pricing", "/pricing"), ("/docs/*", "/docs/%"), ("/a_b%", "/a\\_b\\%"), ("/*/x", "/%/x")],
)
def test_a_page_goal_is_a_like_pattern_with_only_star_wild(page: str, pattern: str) -> None:
    assert Goal("g", page=page).like_pattern == pattern
