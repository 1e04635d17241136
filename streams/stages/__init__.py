"""The stages of a report's path, one faust agent (or a small family) per module, in the order a report meets them:

intake (validate, classify, merge duplicates) -> cases (fold events, publish each case's state) -> alerts (page
the on-call) -> fanout (plan a call to action) -> delivery (send exactly once, receipts, sweep) -> replies
(SIGN, STOP, START). Each stage is a class built from the Runtime; `register()` binds its agents and timers to
the app, so a stage can be imported and its methods tested alone.
"""
