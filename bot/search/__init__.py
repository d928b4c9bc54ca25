"""Search over the team's indexed videos: where each video came from (`origin.py`), the search
itself with its paging and privacy filter (`service.py`), and the shapes they share
(`models.py`). No Slack code: the Slack side (`bot/slack/searching.py`) says who may see what."""
