//go:build !unix

package guard

// Without device and inode numbers, key paths are judged by name only.

func statID(string) (fileID, bool) { return fileID{}, false }

func lstatID(string) (fileID, bool) { return fileID{}, false }
