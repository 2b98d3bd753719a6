"""Server-rendered pages: the shop for customers and the back office for staff.

Pages call the same services as the API; they hold no business rules of their own. Other domains
that render a page (the trace page, the sandbox payment page) use `render()` from
`app.storefront.templating` and extend `base.html`; every non-API POST is checked for a CSRF token by
`app.storefront.csrf.CsrfMiddleware` (put `{{ csrf_field() }}` in each form).
"""
