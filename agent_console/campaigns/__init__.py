"""Campaigns: the operators' API, the campaign call's card and wrap-up, preview dialing."""
