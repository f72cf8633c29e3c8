// riftctl: the operator CLI. Everything but argv handling lives in RunRiftctl (cli/riftctl.h).
#include <iostream>
#include <string>
#include <vector>

#include "cli/riftctl.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return rift::cli::RunRiftctl(std::move(args), std::cout, std::cerr);
}
