#pragma once

namespace clove::app {

/// The composition root: parses configuration, builds the services in dependency order, runs
/// the server until a signal and returns the process exit code.
int Main(int argc, char** argv);

}  // namespace clove::app
