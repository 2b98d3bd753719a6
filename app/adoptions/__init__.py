"""Field adoption (认养一亩田, issue 21): staff offer a plot's season as shares, customers adopt shares through
the checkout's `adoption` kind (app.checkout.adoption) and, once paid, draw their kilograms of the harvest as
`adoption_delivery` orders shipped from the plot's batch."""
