"""The bot's sans-I/O core: synchronous, deterministic, no wall clock and no sockets.

- `decider`: events in (assignment, fill, venue fills, timer, risk reading, expired hedge) →
  a `Decision` out: one journal transaction (what to record) and what to do after it commits;
- `tracker`: one order's state + a venue answer → its transition and effects;
- `netting`: what the next order of a (contract, venue) lane is, from the orders queued in it;
- `escalation`: the next step for a hedge that did not fill (wider cap → next venue → fallback);
- `threshold`: the threshold controller (what equity can carry below the lowering leverage);
- `unwind`: reducing both legs when the exchange account's leverage keeps the threshold down;
- `program`: time in the program (threshold headroom > 0) and the exposure-age alarm.

The daemon (`bot.daemon`) is thin asyncio loops that feed these and carry out what they return;
the backtest drives the same objects in engine time.
"""
