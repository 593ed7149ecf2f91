#include <cstdio>
int main() { std::puts("qlm"); return 0; }
