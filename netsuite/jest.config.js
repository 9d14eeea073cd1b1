// Jest through Oracle's SuiteCloud configuration: N/ modules resolve to its stubs, SuiteScripts/ to src/.
const SuiteCloudJestConfiguration = require('@oracle/suitecloud-unit-testing/jest-configuration/SuiteCloudJestConfiguration');

module.exports = {
    ...SuiteCloudJestConfiguration.build({
        projectFolder: 'src',
        projectType: SuiteCloudJestConfiguration.ProjectType.ACP,
    }),
    testMatch: ['<rootDir>/__tests__/**/*.test.js'],
};
