"""Safe URL fetching: public http(s) addresses only, timeouts and a byte cap."""
