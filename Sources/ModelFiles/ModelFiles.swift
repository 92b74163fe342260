// Module ModelFiles.
