"""The state machine: every legal and every illegal transition."""

from __future__ import annotations

import itertools

import pytest

from admissions.pipeline import (
    OPEN_STAGES,
    REQUIRES,
    TERMINAL_STAGES,
    TRANSITIONS,
    LostReason,
    Stage,
    TransitionError,
    check_transition,
)

_COMPLETE = {
    "reason": "caller asked",
    "lost_reason": LostReason.DECLINED,
    "destination": "Bayview Hospital",
    "duplicate_of": object(),
}
LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
ILLEGAL = [(a, b) for a, b in itertools.product(Stage, Stage) if b not in TRANSITIONS[a]]


def test_every_stage_has_a_transition_entry():
    assert set(TRANSITIONS) == set(Stage.values)


def test_terminal_stages_allow_nothing():
    for stage in TERMINAL_STAGES - {Stage.CRISIS_ROUTED}:
        assert TRANSITIONS[stage] == ()


def test_every_open_stage_can_take_every_exit():
    exits = {
        Stage.REFERRED_OUT,
        Stage.CLOSED,
        Stage.CRISIS_ROUTED,
        Stage.NURTURE,
        Stage.DUPLICATE,
        Stage.INVALID,
    }
    for stage in OPEN_STAGES:
        assert exits <= set(TRANSITIONS[stage]), stage


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_transition_passes_with_what_it_needs(current, target):
    check_transition(current, target, provided=_COMPLETE)


@pytest.mark.parametrize(("current", "target"), [(a, b) for a, b in LEGAL if b in REQUIRES])
def test_legal_transition_without_its_requirement_names_the_field(current, target):
    with pytest.raises(TransitionError) as error:
        check_transition(current, target, provided={})
    assert error.value.field == REQUIRES[target]
    assert Stage(target).label in str(error.value)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transition_names_the_allowed_ones(current, target):
    with pytest.raises(TransitionError) as error:
        check_transition(current, target, provided=_COMPLETE)
    message = str(error.value)
    assert error.value.field == "stage"
    allowed = TRANSITIONS[current]
    if allowed:
        assert all(s.label in message for s in allowed)
    else:
        assert "final" in message


def test_unknown_stage_is_refused():
    with pytest.raises(TransitionError, match="not a pipeline stage"):
        check_transition(Stage.NEW, "teleported")


def test_closing_needs_a_known_lost_reason():
    with pytest.raises(TransitionError, match="not a lost reason"):
        check_transition(Stage.CONTACTED, Stage.CLOSED, provided={"lost_reason": "bored"})
