"""`blp backtest`: the desk's own strategy and the daemon's decision core through simulated
crashes, in engine time (see `runner`). The library API a planner calls per task:

    run_backtest(config: BotConfig, options: BacktestOptions, progress=None) -> BacktestResult
"""

from blp_client.backtest.options import BacktestError, BacktestOptions, BacktestResult
from blp_client.backtest.runner import run_backtest

__all__ = ["BacktestError", "BacktestOptions", "BacktestResult", "run_backtest"]
