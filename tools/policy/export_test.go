package policy

// CleanPath exposes cleanPath to the external tests.
var CleanPath = cleanPath
