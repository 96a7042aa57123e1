"""Where articles come from besides the live feeds: one module per kind of source.

A source yields *leads* (URLs to fetch, with what it says about them) or *captures*
(responses fetched before, with their capture time). :mod:`.sitemaps` reads news
sitemaps. More source kinds (CC-NEWS, our archive) and the backfill that drives them come
with issue 16.
"""
