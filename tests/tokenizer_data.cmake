# Real-tokenizer conformance data (tests/data/tokenizers/setup.sh -> .cache): a FIXTURES_SETUP
# test that regenerates it, required by the conformance tests so it runs before them, also under
# ctest -j. Those tests fail (not skip) when the data is missing.
add_test(NAME tokenizer_data_setup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/data/tokenizers/setup.sh)
set_tests_properties(tokenizer_data_setup PROPERTIES FIXTURES_SETUP tokenizer_data LABELS unit TIMEOUT 1200)

# The conformance tests are discovered when ctest runs (gtest_discover_tests PRE_TEST), so their
# fixture requirement is attached by a ctest include file that runs after the discovery.
set(_sy_tokenizer_fixture_file ${CMAKE_CURRENT_BINARY_DIR}/tokenizer_data_fixture.cmake)
file(WRITE ${_sy_tokenizer_fixture_file} "
foreach(name TokenizerConformance.Mixtral TokenizerConformance.MistralV3Metaspace TokenizerConformance.Qwen
             TokenizerConformance.O200kHarmony TokenizerConformance.FixtureModels
             TokenizerConformance.VariantByteLevel TokenizerConformance.VariantMetaspace
             TokenizerConformance.VariantTrainedAffixes)
  set_tests_properties(\${name} PROPERTIES FIXTURES_REQUIRED tokenizer_data)
endforeach()
")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_sy_tokenizer_fixture_file})
