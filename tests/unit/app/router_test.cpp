#include <gtest/gtest.h>

#include <string>

#include "app/router.h"

namespace nuri::app {
namespace {

enum Handler : std::size_t { kIndex, kItemsNew, kItemById, kItemBySlug, kItemPost, kFiles, kFilesPut, kUser, kUserPosts };

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add("GET", "/", kIndex);
    add("GET", "/items/new", kItemsNew);
    add("GET", "/items/{id:int}", kItemById);
    add("GET", "/items/{slug}", kItemBySlug);
    add("POST", "/items/{id:int}", kItemPost);
    add("GET", "/files/{path:*}", kFiles);
    add("PUT", "/files/{path:*}", kFilesPut);
    add("GET", "/users/{name}/", kUser);
    add("GET", "/users/{name}/posts/{id:int}", kUserPosts);
  }

  void add(const char* method, const char* pattern, std::size_t id) {
    std::string error;
    ASSERT_TRUE(router_.add(method, pattern, id, error)) << error;
  }

  std::string add_error(const char* method, const char* pattern) {
    std::string error;
    EXPECT_FALSE(router_.add(method, pattern, 99, error)) << pattern;
    return error;
  }

  Router::Match found(const char* method, const char* path, std::size_t id) {
    Router::Match m = router_.match(method, path);
    EXPECT_EQ(m.outcome, Router::Match::Outcome::found) << method << " " << path;
    EXPECT_EQ(m.id, id) << method << " " << path;
    return m;
  }

  Router router_;
};

TEST_F(RouterTest, MostSpecificWins) {
  found("GET", "/", kIndex);
  found("GET", "/items/new", kItemsNew);  // a literal over {id:int} and {slug}
  auto by_id = found("GET", "/items/42", kItemById);
  ASSERT_EQ(by_id.params.size(), 1u);
  EXPECT_EQ(by_id.params[0].name, "id");
  EXPECT_EQ(by_id.params[0].value, "42");
  found("GET", "/items/-7", kItemById);
  auto slug = found("GET", "/items/red-shoes", kItemBySlug);
  EXPECT_EQ(slug.params[0].name, "slug");
  EXPECT_EQ(slug.params[0].value, "red-shoes");
  // Not an int64: a string parameter then.
  found("GET", "/items/9223372036854775808", kItemBySlug);
  found("GET", "/items/9223372036854775807", kItemById);
  found("GET", "/items/+1", kItemBySlug);
  found("GET", "/items/1.5", kItemBySlug);
  EXPECT_EQ(router_.size(), 9u);
}

TEST_F(RouterTest, ParametersArePercentDecoded) {
  auto slug = found("GET", "/items/caf%C3%A9%20au%20lait", kItemBySlug);
  EXPECT_EQ(slug.params[0].value, "caf\xC3\xA9 au lait");
  // An encoded slash stays inside its segment: it does not make a new one.
  auto user = found("GET", "/users/a%2Fb/", kUser);
  EXPECT_EQ(user.params[0].value, "a/b");
  // %34%32 is "42": decoded before typing, like the literal segments.
  found("GET", "/items/%34%32", kItemById);
  found("GET", "/items/%6eew", kItemsNew);
  EXPECT_EQ(router_.match("GET", "/items/%zz").outcome, Router::Match::Outcome::not_found);
}

TEST_F(RouterTest, RestParameterTakesSlashes) {
  auto deep = found("GET", "/files/a/b/c.txt", kFiles);
  EXPECT_EQ(deep.params[0].value, "a/b/c.txt");
  EXPECT_EQ(found("GET", "/files/", kFiles).params[0].value, "");
  EXPECT_EQ(router_.match("GET", "/files").outcome, Router::Match::Outcome::not_found);
  found("PUT", "/files/x", kFilesPut);
}

TEST_F(RouterTest, SeveralParametersInOrder) {
  auto m = found("GET", "/users/ann/posts/3", kUserPosts);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].name, "name");
  EXPECT_EQ(m.params[0].value, "ann");
  EXPECT_EQ(m.params[1].name, "id");
  EXPECT_EQ(m.params[1].value, "3");
  // The trailing slash is part of the pattern, as in Django.
  EXPECT_EQ(router_.match("GET", "/users/ann").outcome, Router::Match::Outcome::not_found);
  EXPECT_EQ(router_.match("GET", "/users//").outcome, Router::Match::Outcome::not_found);  // {name} is not empty
}

TEST_F(RouterTest, MethodNotAllowedNamesTheOthers) {
  auto m = router_.match("DELETE", "/items/42");
  EXPECT_EQ(m.outcome, Router::Match::Outcome::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD, POST");
  // HEAD is answered by the GET route.
  found("HEAD", "/items/42", kItemById);
  // POST on a slug: the {slug} route matches the path (GET only), {id:int} does not.
  auto slug = router_.match("POST", "/items/red");
  EXPECT_EQ(slug.outcome, Router::Match::Outcome::method_not_allowed);
  EXPECT_EQ(slug.allow, "GET, HEAD");
  auto files = router_.match("POST", "/files/a");
  EXPECT_EQ(files.allow, "GET, HEAD, PUT");
  EXPECT_EQ(router_.match("GET", "/nothing").outcome, Router::Match::Outcome::not_found);
  EXPECT_EQ(router_.match("GET", "").outcome, Router::Match::Outcome::not_found);
  EXPECT_EQ(router_.match("GET", "*").outcome, Router::Match::Outcome::not_found);
}

TEST_F(RouterTest, BacktracksOutOfADeadEnd) {
  Router r;
  std::string error;
  ASSERT_TRUE(r.add("GET", "/a/{x:int}/end", 1, error)) << error;
  ASSERT_TRUE(r.add("GET", "/a/{y}/other", 2, error)) << error;
  // "5" fits {x:int}, but only {y} leads on to "other".
  auto m = r.match("GET", "/a/5/other");
  ASSERT_EQ(m.outcome, Router::Match::Outcome::found);
  EXPECT_EQ(m.id, 2u);
  EXPECT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].name, "y");
}

TEST_F(RouterTest, BadPatterns) {
  EXPECT_NE(add_error("GET", "items").find("starts with '/'"), std::string::npos);
  EXPECT_NE(add_error("GET", "/x/{id:float}").find("unknown parameter type \"float\""), std::string::npos);
  EXPECT_NE(add_error("GET", "/x/{path:*}/more").find("must come last"), std::string::npos);
  EXPECT_NE(add_error("GET", "/x/{a}/{a}").find("appears twice"), std::string::npos);
  EXPECT_NE(add_error("GET", "/x/{1a}").find("not a parameter name"), std::string::npos);
  EXPECT_NE(add_error("GET", "/x/{id").find("without closing"), std::string::npos);
  EXPECT_NE(add_error("GET", "/x/id{a}").find("whole segment"), std::string::npos);
  EXPECT_NE(add_error("GET", "/x/%G0").find("malformed"), std::string::npos);
  EXPECT_NE(add_error("G ET", "/x").find("not a method"), std::string::npos);
  EXPECT_NE(add_error("GET", "/items/{id:int}").find("already defined"), std::string::npos);
  EXPECT_NE(add_error("GET", "/items/{n:int}/x").find("names this int parameter \"id\""), std::string::npos);
  EXPECT_NE(add_error("GET", "/files/{rest:*}").find("names this * parameter \"path\""), std::string::npos);
  EXPECT_EQ(router_.size(), 9u);  // none of them was added
}

}  // namespace
}  // namespace nuri::app
