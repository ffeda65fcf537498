"""Likes: a signed-in user's "I like what is playing now", one aggregate per user per channel
(`model`), with its rules (`LikeRules`: a rate limit per user, a dedupe window per medium), and
the channel's like rules as admins change them (`rules`, an aggregate per channel).

Uses: the kernel only (`Media`). What is playing is handed to each decision by the application
(from the queue aggregate), as the time is: the domain reads neither.
"""
