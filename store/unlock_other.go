//go:build !unix

package store

import "os"

// unlock does nothing where bbolt locks with the file handle itself, which
// closing releases.
func unlock(*os.File) {}
