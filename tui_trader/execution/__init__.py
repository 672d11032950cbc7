"""Order execution: exchange-rule quantisation, client ids, brokers (paper, Binance), the order manager."""

from tui_trader.execution.broker import Broker, BrokerError, BrokerErrorKind
from tui_trader.execution.circuit import CircuitBreaker
from tui_trader.execution.client_ids import ClientOrderIds, is_valid_client_order_id, make_client_order_id
from tui_trader.execution.filters import check_order, quantize_price, quantize_qty, to_decimal
from tui_trader.execution.order_manager import OrderJournal, OrderManager
from tui_trader.execution.paper import PaperBroker

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerErrorKind",
    "CircuitBreaker",
    "ClientOrderIds",
    "OrderJournal",
    "OrderManager",
    "PaperBroker",
    "check_order",
    "is_valid_client_order_id",
    "make_client_order_id",
    "quantize_price",
    "quantize_qty",
    "to_decimal",
]
