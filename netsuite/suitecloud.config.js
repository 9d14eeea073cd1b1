// SuiteCloud CLI configuration: the account customization project lives in src/.
module.exports = {
    defaultProjectFolder: 'src',
    commands: {},
};
