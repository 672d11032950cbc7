"""Modal dialogs for operator actions. Each returns the command to submit (or None).

The dialogs only build and validate commands; the app submits them to the
engine and reports the outcome. Inputs never blink (stable screenshots and
no distraction); Escape always cancels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from tui_trader.events import AbandonOrder, ClosePosition, EmergencyStop, ManualBuy, ManualSell, PositionView
from tui_trader.execution.client_ids import is_valid_client_order_id
from tui_trader.models import Source
from tui_trader.ui.format import fmt_cash, fmt_exact_price, fmt_qty, one_line


class NoSnapshot(Exception):
    """Raised by a dialog's read of the book at submit time (the sell's ``position_now``, the buy's
    ``cash_now``) when the engine's snapshot fails: the figure now is not known, and the engine
    alone checks the order against it."""


def _input(value: str = "", placeholder: str = "", id: str | None = None, type: str = "text") -> Input:
    inp = Input(value=value, placeholder=placeholder, id=id, type=type)
    inp.cursor_blink = False
    return inp


class TickBox(Checkbox, inherit_bindings=False):
    """A checkbox whose mark says its state without colour: ``X`` ticked, blank not. Textual's
    shows an ``X`` either way and tells them apart by colour only, so on a monochrome terminal
    (or with NO_COLOR) "Override risk checks" looked the same ticked and not.

    Space (or a click) ticks it; Enter confirms the dialog, as everywhere else in it. Textual's
    Enter toggles the box: an operator who ticked "Also close all positions" with Space and
    pressed Enter to confirm had it unticked, and the stop then sent left every position open."""

    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False)]

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - the base class's name for the mark
        return "X" if self.value else " "


#: The most of a refused entry an error repeats: a line pasted by mistake (a log line, an address)
#: came back whole, and the error wrapped over the dialog's buttons, off the bottom of the screen.
ECHO_CHARS = 24


def echo(text: str) -> str:
    """``text`` as an error repeats it: on one line, cut to :data:`ECHO_CHARS` with ``…``."""
    return one_line(text, ECHO_CHARS)


def refuse_comma(text: str, what: str) -> None:
    """A comma is refused, never guessed at: ``100,5`` may mean 100.5 (a decimal comma) or 1005
    (a thousands separator), and reading it the wrong way trades ten times the size."""
    if "," in text:
        raise ValueError(f"{what}: {echo(text)!r}: use a point for decimals and no thousands separators: 100.5")


def parse_decimal(text: str, what: str) -> Decimal:
    """A positive, finite Decimal from operator input; ValueError with a clear message.
    Commas are refused (:func:`refuse_comma`)."""
    refuse_comma(text, what)
    t = text.strip().replace("_", "")
    if not t:
        raise ValueError(f"{what}: enter a number")
    try:
        d = Decimal(t)
    except InvalidOperation:
        raise ValueError(f"{what}: {echo(text)!r} is not a number") from None
    if not d.is_finite():  # "nan", "inf": "must be a positive number" read as if inf were refused for its sign
        raise ValueError(f"{what}: {echo(text)!r} is not a finite number")
    if d <= 0:
        raise ValueError(f"{what}: must be a positive number")
    return d


class _Dialog(ModalScreen):
    """Common frame: a titled box, an error line, confirm/cancel buttons.

    A dialog closes once (:meth:`finish`): two Enters that reach the console together (typed
    ahead over a slow link, a bouncing key) submit the field or press the button twice before
    the first closes it, and Textual's ``dismiss`` pops whatever screen is on top - the second
    closed the screen under the dialog, or crashed the console when that was the main screen."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("enter", "confirm", "Confirm", show=False)]
    DEFAULT_CLASSES = "dialog-screen"

    title_text = ""
    confirm_label = "OK"
    confirm_variant = "primary"
    _dismissed = False  # set by finish(): the dialog was dismissed already
    #: Set by the app before the dialog opens when the engine's snapshot failed and its figures are
    #: the last good snapshot's: said above them, so no one acts on stale prices unaware.
    stale_note = ""

    def compose_body(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        # scrolls when taller than the screen (80x24 with the stale note and an error): the buttons
        # were cut off at the bottom, out of reach; the focused widget is scrolled into view. Not a
        # Tab stop itself: focused, nothing showed it, and Enter there confirmed the dialog
        with VerticalScroll(classes="dialog", can_focus=False):
            yield Static(self.title_text, classes="dialog-title")
            if self.stale_note:
                yield Label(self.stale_note, id="stale", classes="dialog-error")
            yield from self.compose_body()
            yield Label("", id="error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, variant=self.confirm_variant, id="confirm")
                yield Button("Cancel", id="cancel")

    def error(self, message: str) -> None:
        self.query_one("#error", Label).update(message)

    def result(self):  # pragma: no cover - overridden
        return True

    def finish(self, value) -> None:
        """Dismiss with ``value``, unless this dialog is closed already (or not on top)."""
        if self.app.screen is not self or self._dismissed:
            return
        self._dismissed = True
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.finish(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.finish(None)

    def action_confirm(self) -> None:
        """Enter where the focused widget has no Enter of its own (a tick box): confirm."""
        self._confirm()

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted)
    def _confirm(self) -> None:
        try:
            value = self.result()
        except ValueError as exc:
            self.error(str(exc))
            return
        self.finish(value)


class ConfirmScreen(_Dialog):
    """Yes / no question. Result: True (confirmed) or None."""

    # E: no field here to type it into, and it did nothing (flatten, quit, reset, accept's question
    # open when the operator wants the stop); the stop's dialog opens over the question
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("n", "cancel", "No"), Binding("y", "yes", "Yes"),
                Binding("E", "app.emergency_anywhere", "E-STOP", show=False)]

    def __init__(self, title: str, message: str, confirm_label: str = "Yes", danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label
        self.confirm_variant = "error" if danger else "primary"

    def compose_body(self) -> ComposeResult:
        yield Static(self.message, classes="dialog-text")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def result(self) -> bool:
        return True

    def action_yes(self) -> None:
        self.finish(True)


class EmergencyStopScreen(_Dialog):
    """Reason, "also close all positions?", confirm. Result: EmergencyStop or None."""

    title_text = "EMERGENCY STOP"
    confirm_label = "STOP TRADING"
    confirm_variant = "error"

    def __init__(self, n_positions: int | None = 0) -> None:
        """``n_positions`` None: not known yet (the engine is starting up, recovering its book)."""
        super().__init__()
        self.n_positions = n_positions

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Stops all trading now and cancels open orders. Positions stay open unless you tick the box. "
            "Enter or the button confirms.",
            classes="dialog-text",
        )
        yield Label("Reason")
        yield _input("operator emergency stop", id="reason")
        # while the engine starts up its book is not read yet: "(0 open)" told an operator whose
        # book holds positions that there was nothing to close (the stop closes them all the same)
        count = "not counted yet: starting up" if self.n_positions is None else f"{self.n_positions} open"
        yield TickBox(f"Also close all positions ({count})", id="close")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def result(self) -> EmergencyStop:
        reason = self.query_one("#reason", Input).value.strip() or "operator emergency stop"
        return EmergencyStop(source=Source.UI, reason=reason, close_positions=self.query_one("#close", Checkbox).value)


class BuyScreen(_Dialog):
    """Quote amount (default given) and override-risk. Result: ManualBuy or None.

    With ``cash`` (the book's when the dialog opened) an amount above it is refused here, the
    dialog staying open to correct it: spot never borrows, so the engine refuses it in any case,
    override or not, and a typo such as ``1e999`` came back as a refusal a thousand digits long.
    With ``cash_now`` the cash is read again at submit time (the engine's snapshot), as the sell
    dialog reads the position: a stop loss that sold while the dialog was open freed cash that
    the figure it opened with still refused (:class:`NoSnapshot`: the engine alone checks)."""

    confirm_label = "Buy"
    confirm_variant = "success"

    def __init__(self, symbol: str, price_text: str, default_amount: Decimal, quote_asset: str,
                 cash: Decimal | None = None, cash_now: Callable[[], Decimal] | None = None) -> None:
        super().__init__()
        self.symbol = symbol
        self.title_text = f"Buy {symbol}"
        self.price_text = price_text
        self.default_amount = default_amount
        self.quote_asset = quote_asset
        self.cash = cash
        self.cash_now = cash_now

    def _text(self) -> str:
        cash = "" if self.cash is None else f" Cash {fmt_cash(self.cash)} {self.quote_asset}."
        return f"Market buy at about {self.price_text}.{cash} Risk checks apply unless overridden."

    def compose_body(self) -> ComposeResult:
        yield Static(self._text(), id="buy-text", classes="dialog-text")
        yield Label(f"Amount ({self.quote_asset})")
        yield _input(str(self.default_amount), id="amount")
        yield TickBox("Override risk checks", id="override")

    def on_mount(self) -> None:
        self.query_one("#amount", Input).focus()

    def _cash_at_submit(self) -> Decimal | None:
        """The cash now (the dialog's text follows it); None when not known."""
        if self.cash_now is None:
            return self.cash
        try:
            cash = self.cash_now()
        except NoSnapshot:
            return None
        if cash != self.cash:
            self.cash = cash
            self.query_one("#buy-text", Static).update(self._text())
        return cash

    def result(self) -> ManualBuy:
        text = self.query_one("#amount", Input).value
        amount = parse_decimal(text, "amount")
        cash = self._cash_at_submit()
        if cash is not None and amount > cash:
            raise ValueError(f"amount: {echo(text)} is more than the cash {fmt_cash(cash)} {self.quote_asset}")
        return ManualBuy(
            source=Source.UI,
            symbol=self.symbol,
            quote_amount=amount,
            override_risk=self.query_one("#override", Checkbox).value,
        )


class SellScreen(_Dialog):
    """Quantity (blank = the whole position). Result: ClosePosition / ManualSell or None.

    A quantity above the position is refused here, the dialog staying open to correct it, as the
    buy dialog does an amount above the cash: the engine refuses it in any case, and the figure
    typed went with the dialog. The position is the one at submit time (``position_now``, read
    from the engine's snapshot): the dialog may stay open while a stop loss sells it or a fill adds
    to it, and the limit it opened with refused a quantity the position now holds, or let one
    through it no longer does. A position gone meanwhile is said so, and nothing is sent.
    Without ``position_now`` the check uses ``holding`` (the quantity when the dialog opened);
    when it raises :class:`NoSnapshot` (the snapshot fails) the engine alone checks it."""

    confirm_label = "Sell"
    confirm_variant = "error"

    def __init__(self, symbol: str, position_qty: str, holding: Decimal | None = None,
                 position_now: Callable[[], PositionView | None] | None = None) -> None:
        super().__init__()
        self.symbol = symbol
        self.title_text = f"Sell {symbol}"
        self.position_qty = position_qty
        self.holding = holding
        self.position_now = position_now

    def compose_body(self) -> ComposeResult:
        yield Static(self._position_text(self.position_qty), id="position", classes="dialog-text")
        yield Label("Quantity (base)")
        yield _input("", placeholder="all", id="qty")
        yield TickBox("Override risk checks", id="override")

    @staticmethod
    def _position_text(position_qty: str) -> str:
        return f"Position: {position_qty}. Leave the quantity blank to close it all."

    def on_mount(self) -> None:
        self.query_one("#qty", Input).focus()

    def _holding_now(self) -> Decimal | None:
        """The position's quantity now (the dialog's text follows it); ValueError when it is gone."""
        if self.position_now is None:
            return self.holding
        try:
            pos = self.position_now()
        except NoSnapshot:  # the snapshot fails: the engine checks the quantity itself
            return None
        if pos is None:
            raise ValueError(f"{self.symbol}: no open position any more (sold since this dialog opened): "
                             "nothing to sell; Esc closes")
        if pos.quantity != self.holding:
            self.holding = pos.quantity
            self.position_qty = f"{fmt_qty(pos.quantity)} @ {fmt_exact_price(pos.avg_entry)}"
            self.query_one("#position", Static).update(self._position_text(self.position_qty))
        return pos.quantity

    def result(self) -> ClosePosition | ManualSell:
        text = self.query_one("#qty", Input).value
        override = self.query_one("#override", Checkbox).value
        qty = parse_decimal(text, "quantity") if text.strip() else None
        holding = self._holding_now()
        if qty is None:
            if override:
                return ManualSell(source=Source.UI, symbol=self.symbol, quantity=None, override_risk=True)
            return ClosePosition(source=Source.UI, symbol=self.symbol)
        if holding is not None and qty > holding:
            raise ValueError(f"quantity: {echo(text)} is more than the position {holding.normalize():f}: "
                             "leave it blank to close it all")
        return ManualSell(source=Source.UI, symbol=self.symbol, quantity=qty, override_risk=override)


class ThresholdScreen(_Dialog):
    """The z-score entry threshold (exit is its negative). Result: float or None.

    A value outside :data:`USUAL` (the range ``config check`` warns outside of) is set only when
    confirmed by a second Enter: ``0.25`` typed for ``2.5`` had the strategy buy nearly every
    symbol at the next period, and ``25`` for ``2.5`` stopped its entries and exits, unasked.
    So is one at or above ``z_max``, the most a z-score over the strategy's window can be
    (sqrt(window - 1), as ``config check`` says): with a 20-period window 4.5, inside the usual
    range, stopped every signal entry and exit without a word."""

    title_text = "Set z-score threshold"
    confirm_label = "Set"
    MAX = 10.0
    USUAL = (1.0, 5.0)

    def __init__(self, current: float, z_max: float | None = None) -> None:
        super().__init__()
        self.current = current
        self.z_max = z_max
        self._warned: float | None = None  # the unusual value a first Enter warned of

    def compose_body(self) -> ComposeResult:
        yield Static(f"Enter when z >= threshold, exit when z <= -threshold. Now {self.current:g}.",
                     classes="dialog-text")
        yield Label("Threshold")
        yield _input(f"{self.current:g}", id="value")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    @on(Input.Changed, "#value")
    def _edited(self) -> None:
        """An edit takes the warning back: warned of 0.5, then "x" typed (its error in the warning's
        place) and 0.5 again, one Enter set 0.5 with no warning on screen."""
        if self._warned is not None:
            self._warned = None
            self.error("")

    def result(self) -> float:
        text = self.query_one("#value", Input).value.strip()
        refuse_comma(text, "threshold")
        if not text:
            raise ValueError("threshold: enter a number")
        try:
            v = float(text)
        except ValueError:
            raise ValueError(f"threshold: {echo(text)!r} is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"threshold: {echo(text)!r} is not a finite number")
        if v <= 0 or v > self.MAX:
            raise ValueError(f"threshold: must be above 0 and at most {self.MAX:g}")
        lo, hi = self.USUAL
        if self.z_max is not None and v >= self.z_max and v != self.current and v != self._warned:
            self._warned = v
            raise ValueError(f"threshold: {v:g} is never reached: over the strategy's window a z-score is at most "
                             f"{self.z_max:.3g}, so no signal buys or sells: Enter again to set it")
        if not lo <= v <= hi and v != self.current and v != self._warned:
            self._warned = v
            what = "nearly every rising symbol is bought" if v < lo else "entries and z exits become rare"
            raise ValueError(f"threshold: {v:g} is outside the usual {lo:g}-{hi:g} ({what}): Enter again to set it")
        return v


class AbandonOrderScreen(_Dialog):
    """The client order id of an order in a symbol the exchange no longer lists (prefilled with
    the one the engine's snapshot names in ``unlisted_orders``), and what abandoning it does. Result:
    AbandonOrder or None. The engine checks the rest (it asks the exchange once more)."""

    title_text = "Abandon an order in a delisted symbol"
    confirm_label = "Abandon"
    confirm_variant = "error"

    def __init__(self, suggested: dict[str, str] | None = None) -> None:
        super().__init__()
        self.suggested = dict(suggested or {})

    def _warning(self, cid: str) -> str:
        sym = self.suggested.get(cid.strip(), "its symbol")
        return (f"The order is booked canceled: no fill is booked; a position in {sym} is written off; the coins "
                "stay in the account. Only after the exchange says once more that it no longer lists the symbol. "
                "Enter confirms, Esc cancels.")

    def compose_body(self) -> ComposeResult:
        first = next(iter(self.suggested), "")
        if len(self.suggested) > 1:
            yield Static("Named by the reconciliation: " + ", ".join(
                f"{cid} ({sym})" for cid, sym in self.suggested.items()), classes="dialog-text")
        yield Label("Client order id")
        yield _input(first, placeholder="client order id", id="cid")
        yield Static(self._warning(first), id="abandon-warning", classes="dialog-text")

    def on_mount(self) -> None:
        self.query_one("#cid", Input).focus()

    @on(Input.Changed, "#cid")
    def _changed(self, event: Input.Changed) -> None:
        self.query_one("#abandon-warning", Static).update(self._warning(event.value))

    def result(self) -> AbandonOrder:
        cid = self.query_one("#cid", Input).value.strip()
        if not cid:
            raise ValueError("client order id: enter the id the reconciliation names")
        if not is_valid_client_order_id(cid):
            raise ValueError(f"client order id: {echo(cid)!r} is not one (letters, digits, - and _, at most 36)")
        return AbandonOrder(source=Source.UI, client_order_id=cid)
