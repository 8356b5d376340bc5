#include "clove/app/app.hpp"

int main(int argc, char** argv) {
    return clove::app::Main(argc, argv);
}
