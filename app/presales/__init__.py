"""New-harvest pre-sales (预售): a deposit now, the balance when the new rice is milled (issue 20).

Staff create a pre-sale of a SKU with its quota (apart from the SKU's stock); the checkout's `presale` kind
(app.checkout.presale) reserves quota instead of stock; an order takes two payments (the deposit, then the
balance from `balance_starts_at`), goes `deposit_paid` after the first and `paid` after the second, and takes
the SKU's stock when staff ship it (not before `ships_from`). An unpaid balance at `balance_ends_at` is
cancelled by the worker (app.flows.presale_balance), the quota returns.

No deposit bonus (定金膨胀, 定金 ¥x 抵 ¥y): the deposit counts at its face value toward the price; the
product page says "定金 ¥x + 尾款 ¥y".
"""
