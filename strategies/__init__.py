"""Built-in hedging strategies on the bot's strategy interface (`blp_client.bot.strategy`).

Name one in the bot's config by short name (`immediate_hedge`, `twap_hedge`, `band_hedge`,
`internalize`) or as `strategies.twap_hedge:TwapHedge`.
"""
