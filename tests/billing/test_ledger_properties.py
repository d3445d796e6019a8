"""Property: whatever mix of top-ups, sessions, replayed and racing stops, refunds and
adjustments happens, the stored balance is the sum of the entries and no money is
created or lost."""

import itertools
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services
from billing.models import Account, LedgerEntry, SessionCharge, Tariff
from tests.billing.builders import T0, charger, default_tariff, driver, finished_session, prepaid_card
from tests.billing.test_races import run_together

serial = itertools.count()
cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("200"), places=2)
top_up = st.tuples(st.just("top_up"), cents)
session = st.tuples(st.just("session"), st.integers(min_value=0, max_value=60_000))  # Wh
replay = st.tuples(st.just("replay"), st.integers(min_value=0, max_value=20))
refund = st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20), cents)
adjust = st.tuples(
    st.just("adjust"), st.decimals(min_value=Decimal("-50"), max_value=Decimal("50"), places=2)
)
racing_stops = st.tuples(
    st.just("racing_stops"),
    st.integers(min_value=0, max_value=60_000),
    st.integers(min_value=0, max_value=60_000),
)
HYPOTHESIS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Wallet:
    """One driver with two prepaid cards and the operations of the test on their wallet."""

    def __init__(self):
        n = next(serial)
        self.owner = driver(f"driver{n}")
        self.cards = [prepaid_card(f"P{n}A", owner=self.owner), prepaid_card(f"P{n}B", owner=self.owner)]
        self.charges: list = []
        self.chargers = [charger("CP-A"), charger("CP-B")]

    def new_session(self, wh: int, index: int):
        n = next(serial)
        return finished_session(
            self.cards[index % 2].id_tag,
            wh=wh,
            on=self.chargers[index % 2],
            started_at=T0 + timedelta(hours=n),
        )

    def apply(self, operation) -> None:
        kind, *args = operation
        getattr(self, kind)(*args)

    def top_up(self, amount):
        services.top_up(card=self.cards[0], amount=amount, method="cash", source="test")

    def session(self, wh):
        self.charges.append(services.settle_transaction(transaction=self.new_session(wh, 0)))

    def replay(self, index):
        if self.charges:
            assert (
                services.settle_transaction(transaction=self.charges[index % len(self.charges)].transaction)
                is None
            )

    def refund(self, index, amount):
        if self.charges:
            try:
                services.refund(
                    charge=self.charges[index % len(self.charges)], amount=amount, reason="p", by=None
                )
            except services.RefusedMovement:
                pass  # more than the session took: refused, nothing moves

    def adjust(self, amount):
        if amount:
            try:
                services.adjust(account=self.account(), amount=amount, reason="property test", by=None)
            except services.RefusedMovement:
                pass  # would go below zero: refused

    def racing_stops(self, wh_a, wh_b):
        first, second = self.new_session(wh_a, 0), self.new_session(wh_b, 1)
        self.charges += run_together(
            lambda: services.settle_transaction(transaction=first),
            lambda: services.settle_transaction(transaction=second),
            lambda: services.settle_transaction(transaction=first),
        )
        self.charges = [c for c in self.charges if c is not None]

    def account(self) -> Account:
        return Account.objects.get(owner=self.owner)


def money_in(account: Account, kind: str) -> Decimal:
    return sum(account.entries.filter(kind=kind).values_list("amount", flat=True), Decimal(0))


def money_in_every_entry(account: Account) -> Decimal:
    return sum(account.entries.values_list("amount", flat=True), Decimal(0))


def assert_no_money_created_or_lost(account: Account) -> None:
    assert account.balance == services.ledger_total(account) == money_in_every_entry(account)
    assert account.balance >= 0  # the tariff allows no overdraft
    charges = SessionCharge.objects.filter(account=account)
    taken = sum(charges.values_list("charged", flat=True), Decimal(0))
    assert money_in(account, "session_charge") == -taken
    assert account.balance == (
        money_in(account, "top_up") + money_in(account, "refund") + money_in(account, "adjustment") - taken
    )
    for charge in charges:
        assert charge.charged + charge.uncollected == charge.total and charge.charged >= 0
    assert (
        LedgerEntry.objects.filter(account=account, kind="session_charge").count()
        == charges.filter(charged__gt=0).count()
    )
    previous = Decimal(0)
    for entry in account.entries.order_by("created_at", "id"):  # the running balance adds up, entry by entry
        assert entry.balance_after == previous + entry.amount
        previous = entry.balance_after


@HYPOTHESIS
@given(operations=st.lists(st.one_of(top_up, session, replay, refund, adjust), max_size=12))
def test_it_keeps_the_balance_equal_to_the_sum_of_the_ledger(db, operations):
    if not Tariff.objects.filter(is_default=True).exists():
        default_tariff(price_per_kwh=Decimal("0.3700"), session_fee=Decimal("0.5000"))
    wallet = Wallet()
    for operation in operations:
        wallet.apply(operation)
        assert_no_money_created_or_lost(wallet.account())


@settings(HYPOTHESIS, max_examples=12)
@given(operations=st.lists(st.one_of(top_up, racing_stops, replay), min_size=1, max_size=5))
def test_it_keeps_the_ledger_whole_when_stops_race(transactional_db, operations):
    if not Tariff.objects.filter(is_default=True).exists():
        default_tariff(price_per_kwh=Decimal("0.3700"))
    wallet = Wallet()
    for operation in operations:
        wallet.apply(operation)
    assert_no_money_created_or_lost(wallet.account())
