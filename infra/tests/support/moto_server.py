"""moto's server, with the CloudFormation deletes it lacks and a KMS key tag fix.

moto 5.2.5 creates route tables and internet gateways from a template but cannot delete them
through CloudFormation (their models have no delete_from_cloudformation_json), so deleting any
stack with a VPC that has its own route table fails with DependencyViolation, as AWS never
would. This adds those two deletes, the way the EC2 API deletes them (associations and the
gateway's attachment go first).

moto 5.2.5 also hands an AWS::KMS::Key's Tags to its KMS API as they are, and that API wants
TagKey/TagValue: the Key/Value tags CloudFormation's schema defines (and cfn-lint checks)
make the key fail to create. This renames them on the way in.

And for a change set's UsePreviousValue, moto takes the stack's resolved parameters, where a
Number is an int, and compares them with the parameters it was given before, leaving out the
ones that took their default: every resource that refers to such a parameter then counts as
modified, and resources moto cannot update (log groups) vanish from the stack. Previous values
are given back as the text AWS keeps, and compared with every parameter's value (also when
deciding whether a change set holds no changes at all).

moto 5.2.5's CloudFormation has no model for AWS::Glue::Database, AWS::Glue::Table or
AWS::Athena::WorkGroup: it skips them with a warning ("No Moto CloudFormation support"), and
a Ref to one resolves to its logical id. Its Glue and Athena APIs have them, so three small
models create, replace and delete them through those APIs (Ref: the name, as AWS gives it),
and the deploy test reads them back with GetTable and GetWorkGroup.

Then it starts moto's server with the same arguments.
"""

import sys

from moto.athena.models import athena_backends
from moto.cloudformation.models import Stack
from moto.core.common_models import CloudFormationModel
from moto.glue.models import glue_backends
from moto.cloudformation.parsing import ResourceMap
from moto.ec2.models import ec2_backends
from moto.kms.models import Key
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.route_tables import RouteTable
from moto.server import main


def delete_route_table(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = ec2_backends[account_id][region_name]
    table = backend.route_tables.get(resource_name)
    if table is not None:
        table._associations.clear()
        backend.delete_route_table(resource_name)


def delete_internet_gateway(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = ec2_backends[account_id][region_name]
    gateway = backend.internet_gateways.get(resource_name)
    if gateway is not None:
        gateway.vpc = None
        backend.delete_internet_gateway(resource_name)


_create_key = Key.create_from_cloudformation_json


def create_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    properties["Tags"] = [
        {"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in properties.get("Tags", [])
    ]
    return _create_key(resource_name, cloudformation_json, account_id, region_name, **kwargs)


Key.create_from_cloudformation_json = classmethod(create_key)


def as_text(parameters):
    return {
        name: str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        for name, value in parameters.items()
    }


Stack.stack_parameters = property(lambda self: as_text(self.resource_map.resolved_parameters))
_build_resource_diff = ResourceMap.build_resource_diff


def build_resource_diff(self, other_template, parameters=None):
    given = self.input_parameters
    self.input_parameters = {**as_text(self.resolved_parameters), **given}
    try:
        return _build_resource_diff(self, other_template, parameters)
    finally:
        self.input_parameters = given


ResourceMap.build_resource_diff = build_resource_diff


def has_parameters(self, other_parameters):
    current = as_text(self.resource_map.resolved_parameters)
    return current == {**current, **as_text(other_parameters)}


Stack.has_parameters = has_parameters
RouteTable.delete_from_cloudformation_json = classmethod(delete_route_table)
InternetGateway.delete_from_cloudformation_json = classmethod(delete_internet_gateway)

class _ApiModel:
    """A resource CloudFormation creates through one of moto's APIs: create, delete, and an
    update that replaces it. Mixed into direct subclasses of CloudFormationModel (moto finds
    models with __subclasses__(), and its metaclass files them under their module's service)."""

    def __init__(self, name, account_id, region_name, properties):
        self.name = name
        self.account_id = account_id
        self.region_name = region_name
        self.properties = properties

    @property
    def physical_resource_id(self):
        return self.name

    @staticmethod
    def cloudformation_name_type():
        return None

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        properties = cloudformation_json["Properties"]
        resource = cls(cls.name_of(properties), account_id, region_name, properties)
        resource.create()
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        pass


class GlueDatabase(_ApiModel, CloudFormationModel):
    __module__ = "moto.glue.models"

    @staticmethod
    def cloudformation_type():
        return "AWS::Glue::Database"

    @staticmethod
    def name_of(properties):
        return properties["DatabaseInput"]["Name"]

    def create(self):
        glue_backends[self.account_id][self.region_name].create_database(
            self.name, self.properties["DatabaseInput"]
        )

    def delete(self, account_id, region_name):
        glue_backends[account_id][region_name].databases.pop(self.name, None)


class GlueTable(_ApiModel, CloudFormationModel):
    __module__ = "moto.glue.models"

    @staticmethod
    def cloudformation_type():
        return "AWS::Glue::Table"

    @staticmethod
    def name_of(properties):
        return properties["TableInput"]["Name"]

    def create(self):
        glue_backends[self.account_id][self.region_name].create_table(
            self.properties["DatabaseName"], self.name, self.properties["TableInput"]
        )

    def delete(self, account_id, region_name):
        database = glue_backends[account_id][region_name].databases.get(
            self.properties["DatabaseName"]
        )
        if database is not None:
            database.tables.pop(self.name, None)


class AthenaWorkGroup(_ApiModel, CloudFormationModel):
    __module__ = "moto.athena.models"

    @staticmethod
    def cloudformation_type():
        return "AWS::Athena::WorkGroup"

    @staticmethod
    def name_of(properties):
        return properties["Name"]

    def create(self):
        athena_backends[self.account_id][self.region_name].create_work_group(
            self.name,
            self.properties.get("WorkGroupConfiguration", {}),
            self.properties.get("Description", ""),
            self.properties.get("Tags", []),
        )

    def delete(self, account_id, region_name):
        athena_backends[account_id][region_name].delete_work_group(self.name)


if __name__ == "__main__":
    main(sys.argv[1:])
