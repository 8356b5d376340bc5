#include "clove/metrics/metrics.hpp"

#include <gtest/gtest.h>

using namespace clove;

TEST(Metrics, SumsCellsAndRendersPrometheusText) {
    metrics::Registry reg;
    auto& a = reg.NewCell();
    auto& b = reg.NewCell();
    metrics::RequestSample s;
    s.route = "/v1/messages";
    s.model = "claude-sonnet-4-5";
    s.upstream = "main";
    s.status = 200;
    s.ttfb_s = 0.02;
    s.duration_s = 0.3;
    s.input_tokens = 10;
    s.cost_nanousd = 1'500'000'000;
    a.Record(s);
    b.Record(s);
    s.status = 429;
    s.error_type = "rate_limit_error";
    b.Record(s);
    metrics::Gauges g;
    g.in_flight = 3;
    g.credentials = {{"valid", 2}};
    auto text = reg.Render(g);
    EXPECT_NE(text.find("clove_requests_total{route=\"/v1/messages\",model=\"claude-sonnet-4-5\",upstream=\"main\",status=\"200\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("clove_request_errors_total{type=\"rate_limit_error\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("clove_ttfb_seconds_bucket{le=\"0.025\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("clove_ttfb_seconds_count 3\n"), std::string::npos);
    EXPECT_NE(text.find("clove_tokens_total{type=\"input\"} 30\n"), std::string::npos);
    EXPECT_NE(text.find("clove_cost_usd_total 4.500000000\n"), std::string::npos);
    EXPECT_NE(text.find("clove_in_flight_requests 3\n"), std::string::npos);
    EXPECT_NE(text.find("clove_credentials{state=\"valid\"} 2\n"), std::string::npos);
}

TEST(Metrics, EscapesLabelValues) {
    metrics::Registry reg;
    metrics::RequestSample s;
    s.route = "r";
    s.model = "a\"b\\c\nd";
    reg.NewCell().Record(s);
    auto text = reg.Render({});
    EXPECT_NE(text.find("model=\"a\\\"b\\\\c\\nd\""), std::string::npos) << text;
}
