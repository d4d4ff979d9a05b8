#pragma once
// A file descriptor (a socket, a BPF map) the test owns: the library's Fd.
#include "common/fd.hpp"
